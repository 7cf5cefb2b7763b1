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


def _sentences_in_code() -> list[tuple[str, set[str], str]]:
    """(template, keyword names, where) of every sentence("...", name=...) call in app/ and worker/."""
    import ast

    root = Path(__file__).resolve().parents[2]
    found = []
    for path in [*root.joinpath("app").rglob("*.py"), *root.joinpath("worker").rglob("*.py")]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "sentence" and node.args:
                where = f"{path.relative_to(root)}:{node.lineno}"
                names = {k.arg for k in node.keywords if k.arg}
                first = node.args[0]
                options = [first.body, first.orelse] if isinstance(first, ast.IfExp) else [first]
                for option in options:
                    assert isinstance(option, ast.Constant), f"{where}: a template must be a literal"
                    found.append((option.value, names, where))
    return found


def test_every_sentence_the_worker_writes_has_a_chinese_template_with_the_same_values() -> None:
    """Collapse reasons, data warnings and notices are written by the training child long before anyone
    reads them; they are stored as sentences (app.i18n) so the Chinese page says them in Chinese."""
    from string import Formatter

    zh = tables()["zh"]
    found = _sentences_in_code()
    assert len(found) >= 15  # the scan sees the worker's sentences
    for template, names, where in found:
        fields = {f for _, f, _, _ in Formatter().parse(template) if f}
        assert fields == names, f"{where}: the template's values {fields} are not the call's {names}"
        assert template in zh, f"{where}: no Chinese for {template!r}"
        assert {f for _, f, _, _ in Formatter().parse(zh[template]) if f} == fields, where


def test_a_collapse_reason_is_said_in_the_pages_language() -> None:
    """The real detector's sentence, in both languages, and a row written before sentences: as written."""
    from app.i18n import say
    from worker.evaluation.collapse import CollapseMonitor

    monitor = CollapseMonitor()
    signals = [
        s
        for step, loss in enumerate([2.0, 2.1, 1.9, 2.0, 2.0, 30.0])
        for s in monitor.observe_loss(step, loss)
    ]
    event = next(s for s in signals if s.kind == "loss_diverged").event("pause")
    assert event["reason"].startswith("loss 30 at step 5 is 16x the best so far (1.9)")
    assert say(event["said"], language="zh").startswith("第 5 步的损失 30 是目前最好值（1.9）的 16 倍")
    assert say(event["said"], language="en") == event["reason"]
    assert say(None, "as written", language="zh") == "as written"
    broken = {"template": event["said"]["template"], "values": {"loss": 1}}  # values that no longer fit
    assert say(broken, "as written", language="zh") == "as written"
    from types import SimpleNamespace

    from app.i18n import current_language
    from app.web_templates import templates

    flag = {key: event[key] for key in ("step", "kind", "reason", "said", "action")}  # job.result's flags
    job = SimpleNamespace(id=1, kind="train", status="cancelled", result={"flags": [flag]})
    token = current_language.set("zh")
    try:
        html = templates.env.get_template("evaluations/_job_panel.html").render(job=job, events=[])
    finally:
        current_language.reset(token)
    assert "第 5 步的损失 30 是目前最好值" in html and "loss 30 at step 5" not in html
    # A paused job's error is the end event's reason (worker/supervisor.py): said in Chinese too; an error
    # of another kind (or from a later run than that end event) as written.
    summary = templates.env.get_template("jobs/_summary.html")
    end = {"status": "paused", "reason": event["reason"], "said": event["said"]}
    for error, shown in [
        (event["reason"], "第 5 步的损失 30 是目前最好值"),
        ("CUDA out of memory", "CUDA out of memory"),
    ]:
        job = SimpleNamespace(
            id=1, status="cancelled", kind="train", method="full", base_model="m", config={}, error=error,
            progress=SimpleNamespace(step=5, total_steps=40, loss=30.0, eta_seconds=None, percent=12.5),
            peak_memory_bytes=None, result={"end": end}, worker_id=None, cancel_requested=False,
        )  # fmt: skip
        token = current_language.set("zh")
        try:
            html = summary.render(job=job, events=[])
        finally:
            current_language.reset(token)
        assert shown in html.split('id="job-error"')[1].split("</div>")[0]
    degenerate = CollapseMonitor().observe_generations(8, ["", "", "好"])[0]
    assert say(degenerate.said, language="zh") == "第 8 步：67% 的回答为空"
    assert degenerate.reason == "at step 8: 67% of answers are empty"


def test_the_job_page_says_the_budget_notice_and_collapse_kind_in_its_language() -> None:
    from types import SimpleNamespace

    from app.i18n import current_language, in_english, sentence
    from app.web_templates import templates

    job = SimpleNamespace(
        id=1, status="running", kind="train", method="full", base_model="m", config={}, error=None,
        progress=SimpleNamespace(step=3, total_steps=10, loss=1.5, eta_seconds=30.0, percent=30.0),
        peak_memory_bytes=None, result={}, worker_id=None, cancel_requested=False,
    )  # fmt: skip
    said = sentence(
        "time budget {minutes:g} min: {seconds:.1f} s/step measured, training {steps} steps",
        minutes=3.0, seconds=14.78, steps=10,
    )  # fmt: skip
    notice = {"total_steps": 10, "seconds_per_step": 14.78, "said": said}
    events = [
        SimpleNamespace(kind="notice", step=5, message=in_english(said), data=notice),
        SimpleNamespace(kind="collapse", step=7, message="loss 66 at step 7", data={"kind": "loss_diverged"}),
    ]
    page = templates.env.get_template("jobs/_summary.html")
    token = current_language.set("zh")
    try:
        html = page.render(job=job, events=events)
    finally:
        current_language.reset(token)
    assert "[通知 @ 5]" in html and "时间预算 3 分钟：实测每步 14.8 秒，训练 10 步" in html
    # A row written before sentences existed shows its message as written.
    assert "[崩溃 @ 7]" in html and "<strong>损失发散</strong>: loss 66 at step 7" in html
