"""The model catalog: what a job can start from. Folders are read (config.json), never executed."""

from __future__ import annotations

import json
import re
from pathlib import Path

from sqlalchemy.orm import Session

from app.catalog.repository import ModelRepository
from app.catalog.schemas import ModelRegister
from app.errors import Conflict, InvalidInput, NotFound
from app.models import BaseModel, ModelSource
from app.settings import get_settings

HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


def slugify(text: str) -> str:
    slug = re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-.")
    return slug[:120] or "model"


def read_model_card(folder: Path) -> dict[str, object]:
    """Architecture and size from config.json, without importing transformers."""
    config_path = folder / "config.json"
    if not config_path.is_file():
        return {}
    config = json.loads(config_path.read_text(encoding="utf-8"))
    archs = config.get("architectures") or [config.get("model_type")]
    info: dict[str, object] = {"architecture": archs[0] if archs else None}
    meta = folder / "ftstudio_model.json"
    if meta.is_file():
        extra = json.loads(meta.read_text(encoding="utf-8"))
        info["num_parameters"] = extra.get("num_parameters") or extra.get("params")
        info["description"] = extra.get("description")
    return info


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

    def register(
        self,
        owner_id: int,
        request: ModelRegister,
        *,
        source: str | None = None,
        created_by_job_id: int | None = None,
    ) -> BaseModel:
        folder = Path(request.path).expanduser()
        if folder.is_dir():
            if not (folder / "config.json").is_file() and not request.gguf_file:
                raise InvalidInput(
                    f"'{request.path}' has no config.json: not a Hugging Face model folder.", field="path"
                )
            path, kind = str(folder.resolve()), source or ModelSource.LOCAL
            card = read_model_card(folder)
        elif HUB_ID.match(request.path):
            path, kind, card = request.path, source or ModelSource.HUB, {}
        else:
            raise InvalidInput(
                f"'{request.path}' is neither a folder on the server nor a hub id like org/name.",
                field="path",
            )
        name = request.name or Path(request.path).name
        model_id = request.id or slugify(name)
        if self.models.get(model_id) is not None:
            raise Conflict(f"A model with id '{model_id}' is already registered.", field="id")
        settings = get_settings()
        model = BaseModel(
            id=model_id,
            owner_id=owner_id,
            name=name,
            source=kind,
            path=path,
            gguf_file=request.gguf_file,
            architecture=card.get("architecture"),
            num_parameters=card.get("num_parameters"),
            description=card.get("description"),
            created_by_job_id=created_by_job_id,
            # Running a model's own code is an admin decision, listed in the settings by id or path.
            trust_remote_code=model_id in settings.trust_remote_code_models
            or path in settings.trust_remote_code_models,
        )
        self.models.add(model)
        self.session.commit()
        return model


def resolve_model_source(session: Session, model_id: str) -> str | None:
    """A catalog id -> the folder or hub id to load; None if the id is not in the catalog."""
    model = ModelRepository(session).get(model_id)
    return model.path if model else None
