"""The model catalog: what a job can start from. Folders are read (config.json), never executed."""

from __future__ import annotations

import json
import re
from pathlib import Path

from sqlalchemy.orm import Session

from app.catalog.repository import ModelRepository
from app.catalog.schemas import ModelRegister
from app.deps import Principal
from app.errors import Conflict, InvalidInput, NotFound
from app.models import BaseModel, ModelSource
from app.planner.architecture import shape_from_config_json
from app.safe_paths import UnsafePath, check_components, file_inside, resolve_inside
from app.settings import get_settings

HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


def slugify(text: str) -> str:
    slug = re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-.")
    return slug[:120] or "model"


PICKLE_WEIGHTS = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


def _read_json_object(path: Path, what: str) -> dict:
    """A small JSON file that must hold an object; anything else is the user's folder at fault (422)."""
    try:
        if path.stat().st_size > 4 * 1024 * 1024:
            raise InvalidInput(f"{what} is larger than 4 MB; it is not a model configuration.", field="path")
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidInput(f"{what} is not valid JSON (UTF-8).", field="path") from None
    if not isinstance(value, dict):
        raise InvalidInput(f"{what} must hold a JSON object.", field="path")
    return value


def read_model_card(folder: Path) -> dict[str, object]:
    """Architecture and size from config.json, without importing transformers (and checked: a broken
    config.json is the user's folder at fault, a 422, not a 500)."""
    config_path = folder / "config.json"
    if not config_path.is_file():
        return {}
    config = _read_json_object(config_path, "config.json")
    archs = config.get("architectures")
    if archs is None:
        archs = [config.get("model_type")]
    if not isinstance(archs, list) or not all(isinstance(a, str | None) for a in archs):
        raise InvalidInput("config.json: 'architectures' must be a list of class names.", field="path")
    architecture = archs[0] if archs else None
    info: dict[str, object] = {"architecture": architecture[:100] if architecture else None}
    meta = folder / "ftstudio_model.json"
    if meta.is_file():
        extra = _read_json_object(meta, "ftstudio_model.json")
        params = extra.get("num_parameters") or extra.get("params")
        info["num_parameters"] = params if isinstance(params, int) and 0 < params < 2**63 else None
        description = extra.get("description")
        info["description"] = description if isinstance(description, str) else None
    if info.get("num_parameters") is None:
        info["num_parameters"] = _parameters_from_config(config)
    return info


def _parameters_from_config(config: dict) -> int | None:
    """The parameter count the memory planner derives from config.json (exact for the dense decoders it
    knows: the demo model and the tiny test Llama match their weight files); None where it cannot say.
    Without it the catalog showed "–" for every registered folder and export."""
    try:
        count = int(shape_from_config_json(config).num_params)
    except (ValueError, KeyError, TypeError, ZeroDivisionError):
        return None
    return count if 0 < count < 2**63 else None


def check_weights(folder: Path) -> None:
    """Weights load from safetensors only: a folder whose only weights are pickles (.bin, .pt) could run
    code when loaded, so it is refused when registered rather than failing (or worse) in a job."""
    try:
        names = [p.name for p in folder.iterdir() if p.is_file()]
    except OSError:
        raise InvalidInput("The model folder cannot be read.", field="path") from None
    if any(n.endswith(".safetensors") for n in names):
        return
    pickles = sorted(n for n in names if n.endswith(PICKLE_WEIGHTS))
    if pickles:
        raise InvalidInput(
            f"The folder's weights are pickle files ({', '.join(pickles[:3])}): safetensors only. "
            "Convert them (save_pretrained(..., safe_serialization=True)) and register again.",
            field="path",
        )


def allowed_roots(principal: Principal) -> list[Path]:
    """Members name only folders the studio manages; admins any folder under the configured roots."""
    settings = get_settings()
    return settings.resolved_model_roots if principal.is_admin else [settings.models_dir.resolve()]


class CatalogService:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.models = ModelRepository(session)

    def list(self) -> list[BaseModel]:
        return self.models.list()

    def get(self, model_id: str) -> BaseModel:
        model = self.models.get(model_id)
        if model is None:
            raise NotFound(f"Model '{model_id}' is not in the catalog.")
        return model

    def register_for(self, principal: Principal, request: ModelRegister) -> BaseModel:
        """A model named by a user (API, pages): the folder must resolve inside the allowed roots."""
        for field, text in (("path", request.path), ("gguf_file", request.gguf_file)):
            try:
                if text is not None:
                    check_components(text)
            except UnsafePath as exc:
                raise InvalidInput(f"{field}: {exc}.", field=field) from None
        looks_local = request.path.startswith(("/", "~", ".")) or not HUB_ID.match(request.path)
        roots = allowed_roots(principal)
        if not looks_local:
            # org/name: a folder of that name under the first root wins, as from_pretrained would do.
            candidate = roots[0] / request.path
            looks_local = candidate.is_dir() and not candidate.is_symlink()
        if not looks_local:
            if request.gguf_file:
                raise InvalidInput("gguf_file is for a model folder on the server.", field="gguf_file")
            return self._add(principal.user_id, request, request.path, ModelSource.HUB, {}, None)
        where = (
            "the studio's models folder"
            if not principal.is_admin
            else "the model roots (FTSTUDIO_MODEL_ROOTS)"
        )
        try:
            folder = resolve_inside(request.path, roots)
        except UnsafePath:
            # The same answer whether or not the path exists: it reveals nothing about the host's files.
            raise InvalidInput(
                f"'{request.path}' is not a folder inside {where}, nor a hub id like org/name.", field="path"
            ) from None
        if not folder.is_dir():
            raise InvalidInput(
                f"'{request.path}' is not a folder inside {where}, nor a hub id like org/name.", field="path"
            )
        return self.register(principal.user_id, request, folder=folder)

    def register(
        self,
        owner_id: int,
        request: ModelRegister,
        *,
        source: str | None = None,
        created_by_job_id: int | None = None,
        folder: Path | None = None,
    ) -> BaseModel:
        """Register a folder the studio itself wrote or checked (the demo model, an export, register_for);
        user-named folders come through register_for, which keeps them inside the allowed roots."""
        if folder is None:
            folder = Path(request.path).expanduser()
            if not folder.is_dir():
                if HUB_ID.match(request.path):
                    return self._add(owner_id, request, request.path, source or ModelSource.HUB, {}, None)
                raise InvalidInput(
                    f"'{request.path}' is neither a folder on the server nor a hub id like org/name.",
                    field="path",
                )
            folder = folder.resolve()
        gguf_file = None
        if request.gguf_file:
            try:
                gguf = file_inside(folder, request.gguf_file)
            except UnsafePath:
                gguf = None
            if gguf is None or not gguf.is_file() or gguf.suffix.lower() != ".gguf":
                raise InvalidInput(
                    "gguf_file must name a .gguf file inside the model folder.", field="gguf_file"
                )
            gguf_file = str(gguf.relative_to(folder))
        elif not (folder / "config.json").is_file():
            raise InvalidInput(
                f"'{request.path}' has no config.json: not a Hugging Face model folder.", field="path"
            )
        card = read_model_card(folder)
        if not gguf_file:
            check_weights(folder)
        return self._add(
            owner_id, request, str(folder), source or ModelSource.LOCAL, card, gguf_file, created_by_job_id
        )

    def _add(
        self,
        owner_id: int,
        request: ModelRegister,
        path: str,
        kind: str,
        card: dict[str, object],
        gguf_file: str | None,
        created_by_job_id: int | None = None,
    ) -> BaseModel:
        name = request.name or Path(request.path).name or "model"
        model_id = request.id or slugify(name)
        if self.models.get(model_id) is not None:
            raise Conflict(f"A model with id '{model_id}' is already registered.", field="id")
        settings = get_settings()
        model = BaseModel(
            id=model_id,
            owner_id=owner_id,
            name=name[:200],
            source=kind,
            path=path,
            gguf_file=gguf_file,
            architecture=card.get("architecture"),
            num_parameters=card.get("num_parameters"),
            description=card.get("description"),
            created_by_job_id=created_by_job_id,
            # Running a model's own code is an admin decision: the settings' list seeds it by id or path,
            # and an admin turns it on or off per model (set_trust_remote_code).
            trust_remote_code=model_id in settings.trust_remote_code_models
            or path in settings.trust_remote_code_models,
        )
        self.models.add(model)
        self.session.commit()
        return model

    def set_trust_remote_code(self, model_id: str, allowed: bool) -> BaseModel:
        """The allow-list: only models an admin marked here may run code from their own folder/repo."""
        model = self.get(model_id)
        model.trust_remote_code = allowed
        self.session.commit()
        return model


def resolve_model_source(session: Session, model_id: str) -> str | None:
    """A catalog id -> the folder or hub id to load; None if the id is not in the catalog."""
    model = ModelRepository(session).get(model_id)
    return model.path if model else None
