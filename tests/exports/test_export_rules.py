"""Pure parts of the export feature: the mode table agrees with the export engine, zips carry no pickles,
the form's field lists name real hyperparameters."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import pytest

from app.errors import InvalidInput
from app.exports.schemas import EXPORT_MODES, ExportRequest, default_mode
from app.exports.service import check_mode, inside
from app.exports.zipstream import stream_zip
from app.jobs.form import METHOD_FIELDS, field_methods, form_sections, parse_hyperparameters
from app.jobs.hyperparameters import METHODS, field_help


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("mode", ["merged", "adapter"])
def test_mode_table_agrees_with_the_export_engine(method: str, mode: str, tmp_path: Path) -> None:
    from worker.training.export import ExportError, _check_request

    (tmp_path / "adapter_model.safetensors").write_bytes(b"")
    try:
        _check_request(method, mode, tmp_path)
        engine_allows = True
    except ExportError:
        engine_allows = False
    assert (mode in EXPORT_MODES[method]) == engine_allows, (method, mode)


def test_every_method_has_an_export_mode_and_the_default_is_allowed() -> None:
    assert set(EXPORT_MODES) == set(METHODS)
    for method in METHODS:
        assert default_mode(method) in EXPORT_MODES[method]
    assert default_mode("lora") == "merged" and default_mode("ptuning") == "adapter"


def test_a_refused_mode_names_the_field_and_the_way_out() -> None:
    with pytest.raises(InvalidInput) as refused:
        check_mode("ptuning", "merged")
    assert refused.value.field == "mode" and "adapter" in refused.value.message
    with pytest.raises(InvalidInput) as refused:
        check_mode("full", "adapter")
    assert refused.value.field == "mode" and "merged" in refused.value.message
    check_mode("qlora", "merged")  # allowed: no exception


def test_export_request_rejects_unknown_values() -> None:
    with pytest.raises(ValueError, match="dtype"):
        ExportRequest(dtype="int4")
    with pytest.raises(ValueError, match="mode"):
        ExportRequest(mode="gguf")
    with pytest.raises(ValueError, match="extra"):
        ExportRequest.model_validate({"mode": "merged", "path": "/etc"})


def test_inside_refuses_paths_that_climb_out(tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "models").mkdir(parents=True)
    assert inside(root / "models", root)
    assert not inside(root / "models" / ".." / "..", root)
    (root / "models" / "link").symlink_to(tmp_path)
    assert not inside(root / "models" / "link", root)


def test_stream_zip_is_a_valid_zip_without_pickles_or_links(tmp_path: Path) -> None:
    folder = tmp_path / "export"
    (folder / "sub").mkdir(parents=True)
    weights = os.urandom(3 * 1024 * 1024 + 17)  # over one read chunk
    (folder / "model.safetensors").write_bytes(weights)
    (folder / "sub" / "config.json").write_text('{"a": 1}')
    (folder / "training_args.bin").write_bytes(b"pickle")
    (tmp_path / "secret.txt").write_text("outside")
    (folder / "escape.txt").symlink_to(tmp_path / "secret.txt")
    data = b"".join(stream_zip(folder, "exp"))
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.testzip() is None
    assert sorted(archive.namelist()) == ["exp/model.safetensors", "exp/sub/config.json"]
    assert archive.read("exp/model.safetensors") == weights


def test_method_fields_name_real_hyperparameters() -> None:
    names = set(field_help())
    for method, fields in METHOD_FIELDS.items():
        assert method in METHODS
        assert set(fields) <= names, set(fields) - names
    assert set(METHOD_FIELDS) == set(METHODS)


def test_field_methods_per_issue() -> None:
    assert set(field_methods("lora_r")) == {"lora", "qlora"}
    assert field_methods("quant_bits") == ("qlora",)
    assert set(field_methods("num_virtual_tokens")) == {"ptuning", "prefix", "prompt"}
    assert field_methods("adapter_bottleneck_size") == ("adapter",)
    assert field_methods("freeze_trainable_layers") == ("freeze",)
    assert field_methods("zero_stage") is None and field_methods("num_processes") is None  # every method
    assert "prefix" not in field_methods("gradient_checkpointing")
    assert field_methods("learning_rate") is None


def test_form_sections_carry_the_method_lists() -> None:
    basic, advanced = form_sections()
    specs = dict(basic + advanced)
    assert set(specs) == set(field_help())
    assert specs["lora_alpha"]["methods"] == field_methods("lora_alpha")
    assert specs["max_steps"]["methods"] is None


def _page_form(method: str, **changes: str) -> dict[str, str]:
    """What a browser without JavaScript posts: every field at its default (checked boxes as "on")."""
    form = {"method": method}
    for name, spec in field_help().items():
        if spec["type"] == "bool":
            if spec["default"]:
                form[name] = "on"
        else:
            form[name] = "" if spec["default"] is None else str(spec["default"])
    form.update(changes)
    return {k: v for k, v in form.items() if v != "off"}


def test_parse_drops_fields_of_other_methods() -> None:
    # A page without JavaScript sends every field; a LoRA rank typed before switching to P-tuning must
    # not travel, nor may a hidden box of another method read as "turned off".
    form = _page_form("ptuning", lora_r="64", num_virtual_tokens="10", max_steps="5", double_quant="off")
    assert parse_hyperparameters(form) == {"num_virtual_tokens": 10, "max_steps": 5}
    assert parse_hyperparameters(_page_form("lora", double_quant="off")) == {}
    assert parse_hyperparameters(_page_form("qlora", double_quant="off")) == {"double_quant": False}
    # lora_r 32: not the default (16 since the training merge), so it travels.
    assert parse_hyperparameters(_page_form("qlora", quant_bits="8", lora_r="32")) == {
        "quant_bits": 8,
        "lora_r": 32,
    }
