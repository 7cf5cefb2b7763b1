"""The Chinese pages stay Chinese. Found in use: the new fine-tune form, the page a counselling team spends
most time on, showed every hyperparameter's help and the whole memory plan in English on the Chinese page.
Each check below reads the strings where they are made (templates, TrainHyperparameters, the planner), so a
new string without its Chinese entry fails here rather than reaching a page in English."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.i18n import tables
from app.jobs.hyperparameters import TrainHyperparameters
from app.jobs.i18n_zh import HYPERPARAMETER_HELP_ZH
from app.planner import PlanRequest, plan

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
# t("...") or t('...') with a literal argument.
LITERAL_T = re.compile(r"""\bt\(\s*(["'])((?:(?!\1).)+)\1\s*\)""")


def test_every_literal_string_of_the_templates_has_a_chinese_entry() -> None:
    zh = tables()["zh"]
    found = {
        (m.group(2), path.relative_to(TEMPLATES).as_posix())
        for path in TEMPLATES.rglob("*.html")
        for m in LITERAL_T.finditer(path.read_text(encoding="utf-8"))
    }
    assert len(found) > 300  # the scan sees the templates (a broken pattern would pass an empty set)
    missing = sorted(f"{where}: {text}" for text, where in found if text not in zh)
    assert not missing, missing


def test_every_hyperparameter_has_chinese_help() -> None:
    fields = TrainHyperparameters.model_fields
    assert set(HYPERPARAMETER_HELP_ZH) == set(fields), set(HYPERPARAMETER_HELP_ZH) ^ set(fields)
    zh = tables()["zh"]
    assert all(zh[f.description] == HYPERPARAMETER_HELP_ZH[name] for name, f in fields.items())


@pytest.mark.parametrize("method", ["lora", "qlora", "ptuning", "adapter", "freeze", "full"])
def test_every_memory_plan_term_has_a_chinese_name(method: str) -> None:
    zh = tables()["zh"]
    variants: list[dict] = [
        {"device": "cpu"},
        {},
        {"precision": "bf16"},
        {"zero": 2, "num_gpus": 2},
        {"zero": 3, "num_gpus": 4, "offload_optimizer": True, "offload_params": True},
        {"zero": 1, "num_gpus": 2, "offload_optimizer": True},
        {"num_gpus": 2, "grad_accum": 1},
    ]
    terms: set[str] = set()
    for extra in variants:
        if method == "qlora" and extra.get("zero") == 3 and extra.get("offload_params"):
            continue  # a refused combination: nothing to show
        result = plan(PlanRequest(model="Qwen/Qwen2-7B", method=method, **extra), with_recommendations=False)
        terms |= set(result.per_gpu.breakdown) | set(result.per_gpu.phase_peaks)
    assert {"activations", "backward"} <= terms
    assert not sorted(terms - set(zh))


def test_every_auto_method_sentence_has_a_chinese_template_with_the_same_values() -> None:
    from app.planner import method_choice as mc

    zh = tables()["zh"]
    sentences = [
        mc.NOTE,
        mc.ABOVE_1B,
        mc.SIZE_UNREADABLE,
        *mc.FULL_DOES_NOT_FIT.values(),
        *mc.FULL_FITS.values(),
    ]
    for sentence in sentences:
        assert sentence in zh, sentence
        assert set(re.findall(r"{(\w+)}", zh[sentence])) == set(re.findall(r"{(\w+)}", sentence)), sentence
