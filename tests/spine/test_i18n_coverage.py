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
# t("...") or t('...') with a literal argument, and tf("... {value} ...", values).
LITERAL_T = re.compile(r"""\btf?\(\s*(["'])((?:(?!\1).)+)\1\s*[,)]""")


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


def test_every_job_event_kind_and_collapse_kind_has_a_chinese_name() -> None:
    from worker.event_sink import NOTABLE_EVENTS

    source = (Path(__file__).resolve().parents[2] / "worker/evaluation/collapse.py").read_text(
        encoding="utf-8"
    )
    collapse_kinds = set(re.findall(r'_fire\(\s*"(\w+)"', source))
    assert {"loss_diverged", "eval_loss_rising"} <= collapse_kinds
    zh = tables()["zh"]
    assert not sorted((set(NOTABLE_EVENTS) | collapse_kinds) - set(zh))


def test_the_job_page_says_the_budget_notice_and_collapse_kind_in_its_language() -> None:
    from types import SimpleNamespace

    from app.i18n import current_language
    from app.web_templates import templates

    job = SimpleNamespace(
        id=1, status="running", kind="train", method="full", base_model="m", config={}, error=None,
        progress=SimpleNamespace(step=3, total_steps=10, loss=1.5, eta_seconds=30.0, percent=30.0),
        peak_memory_bytes=None, result={}, worker_id=None, cancel_requested=False,
    )  # fmt: skip
    notice = {"total_steps": 10, "seconds_per_step": 14.78, "message": "time budget 3 min: ..."}
    events = [
        SimpleNamespace(kind="notice", step=5, message=notice["message"], data=notice),
        SimpleNamespace(kind="collapse", step=7, message="loss 66 at step 7", data={"kind": "loss_diverged"}),
    ]
    page = templates.env.get_template("jobs/_summary.html")
    token = current_language.set("zh")
    try:
        html = page.render(job=job, events=events)
    finally:
        current_language.reset(token)
    assert "[通知 @ 5]" in html and "时间预算：实测每步 14.8 秒，训练 10 步" in html
    assert "[崩溃 @ 7]" in html and "<strong>损失发散</strong>: loss 66 at step 7" in html
