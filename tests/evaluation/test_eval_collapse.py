"""Collapse detectors (pure) and the quick-eval callback inside a real HF Trainer run on a tiny model."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from worker.evaluation.collapse import CollapseMonitor, generation_health

ROWS = [
    {
        "id": f"r{i}",
        "messages": [
            {"role": "user", "content": q},
            {"role": "assistant", "content": a},
        ],
    }
    for i, (q, a) in enumerate(
        [
            ("我最近总是睡不好，怎么办？", "可以试着固定作息，睡前少看手机。"),
            ("考试前很紧张。", "紧张很正常，深呼吸，按计划复习。"),
            ("和朋友吵架了。", "等情绪平复后，真诚地聊一聊。"),
            ("工作压力很大。", "列出最重要的事，一件一件做。"),
        ]
        * 4
    )
]


def test_non_finite_and_spike() -> None:
    m = CollapseMonitor(min_history=3)
    assert m.observe_loss(1, 2.0) == [] and m.observe_loss(2, 1.9) == [] and m.observe_loss(3, 1.8) == []
    spike = m.observe_loss(4, 9.0)
    assert [s.kind for s in spike] == ["loss_spike"] and "running median" in spike[0].reason
    assert m.observe_loss(5, 8.5) == []  # each kind is reported once; 8.5 is under 5x the best (1.8)
    assert [s.kind for s in m.observe_loss(6, 50.0)] == ["loss_diverged"]
    nan = m.observe_loss(7, math.nan)
    assert nan[0].kind == "non_finite_loss"


def test_no_false_alarm_on_a_normal_curve() -> None:
    m = CollapseMonitor(min_history=3)
    signals = [
        s for step in range(1, 60) for s in m.observe_loss(step, 3.0 / math.sqrt(step) + 0.05 * (step % 3))
    ]
    signals += [
        s for step, ev in enumerate([2.0, 1.8, 1.7, 1.69, 1.72, 1.71]) for s in m.observe_eval_loss(step, ev)
    ]
    assert signals == []


def test_rising_eval_loss() -> None:
    m = CollapseMonitor(patience=3)
    kinds = [
        s.kind for step, ev in enumerate([2.0, 1.5, 1.6, 1.7, 1.9]) for s in m.observe_eval_loss(step, ev)
    ]
    assert kinds == ["eval_loss_rising"]


@pytest.mark.parametrize(
    ("predictions", "fragment"),
    [
        (["好的好的好的好的好的好的好的好的", "是是是是是是是是是是是是"], "repeat"),
        (["", "", "有内容"], "empty"),
        (["<|im_start|>assistant 你好", "正常回答"], "template"),
        (["我不知道", "我不知道", "我不知道"], "same text"),
    ],
)
def test_degenerate_generations(predictions: list[str], fragment: str) -> None:
    signals = CollapseMonitor().observe_generations(10, predictions)
    assert len(signals) == 1 and fragment in signals[0].reason


def test_healthy_generations_pass() -> None:
    preds = ["可以试着固定作息。", "深呼吸，按计划复习。", "真诚地聊一聊。"]
    assert CollapseMonitor().observe_generations(10, preds) == []
    assert generation_health(preds)["distinct"] == 3


def _train(model_dir: Path, out: Path, hp: dict, *, lr: float, steps: int) -> list[dict]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, TrainingArguments

    from worker.evaluation.quick_eval import make_quick_eval_callback
    from worker.training.best_checkpoints import BestCheckpoints

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    texts = [tok.apply_chat_template(r["messages"], tokenize=False) for r in ROWS]
    enc = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]

    class Rows(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return len(enc)

        def __getitem__(self, i: int) -> dict:
            return {"input_ids": enc[i], "labels": enc[i]}

    def collate(batch: list[dict]) -> dict:
        width = max(len(b["input_ids"]) for b in batch)
        ids = torch.full((len(batch), width), tok.pad_token_id)
        labels = torch.full((len(batch), width), -100)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, b in enumerate(batch):
            n = len(b["input_ids"])
            ids[i, :n] = torch.tensor(b["input_ids"])
            labels[i, :n] = torch.tensor(b["labels"])
            mask[i, :n] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}

    events: list[dict] = []
    args = TrainingArguments(
        output_dir=str(out),
        max_steps=steps,
        per_device_train_batch_size=4,
        learning_rate=lr,
        logging_steps=1,
        save_steps=5,
        save_strategy="steps",
        report_to=[],
        use_cpu=True,
        disable_tqdm=True,
        seed=0,
    )
    callback = make_quick_eval_callback(
        hyperparameters=hp, tokenizer=tok, eval_rows=ROWS, write_event=events.append, max_new_tokens=12
    )
    callbacks = [callback]
    if hp.get("keep_best_k"):  # ranked by the quick check's own result of each save, as the child does
        callbacks.append(
            BestCheckpoints(
                keep=hp["keep_best_k"], metric=hp["metric_for_best"], checkpoints_dir=out,
                write_event=events.append, quick_eval_result=lambda: callback.last_result,
            )
        )  # fmt: skip
    Trainer(model=model, args=args, train_dataset=Rows(), data_collator=collate, callbacks=callbacks).train()
    assert tok.padding_side == "right" or tok.padding_side == tok.init_kwargs.get("padding_side", "right")
    return events


HP = {
    "quick_eval_every_n_checkpoints": 1,
    "quick_eval_samples": 3,
    "keep_best_k": 2,
    "metric_for_best": "bleu4",
}


@pytest.mark.slow
def test_absurd_learning_rate_is_flagged_and_stops(tiny_model_dir: Path, tmp_path: Path) -> None:
    events = _train(tiny_model_dir, tmp_path / "run", {**HP, "collapse_action": "stop"}, lr=10.0, steps=30)
    collapses = [e for e in events if e["event"] == "collapse"]
    assert collapses, [e["event"] for e in events]
    assert collapses[0]["action"] == "stop" and collapses[0]["reason"]
    assert collapses[0]["kind"] in ("loss_diverged", "loss_spike", "non_finite_loss")
    stop_step = collapses[0]["step"]
    # stop = save + stop at the end of that step: no training continues to step 30
    assert stop_step < 30 and (tmp_path / "run" / f"checkpoint-{stop_step}").is_dir()


@pytest.mark.slow
def test_quick_eval_events_and_best_k_on_a_sane_run(tiny_model_dir: Path, tmp_path: Path) -> None:
    events = _train(tiny_model_dir, tmp_path / "run", {**HP, "collapse_action": "flag"}, lr=1e-3, steps=15)
    quick = [e for e in events if e["event"] == "quick_eval"]
    assert [e["step"] for e in quick] == [5, 10, 15]
    assert all(
        len(e["samples"]) == 3 and {"prompt", "prediction", "reference"} <= set(e["samples"][0])
        for e in quick
    )
    assert all(0 <= e["bleu4"] <= 100 for e in quick)
    best = [e for e in events if e["event"] == "best_checkpoints"]
    assert best and len(best[-1]["steps"]) == 2 and set(best[-1]["steps"]) <= {5, 10, 15}
    scores = {e["step"]: e["bleu4"] for e in quick}
    top2 = sorted(scores, key=lambda s: (-scores[s], -s))[:2]
    assert sorted(top2) == best[-1]["steps"]
    on_disk = {int(p.name.split("-")[1]) for p in (tmp_path / "run").glob("checkpoint-*")}
    assert on_disk == {*top2, 15}  # the best two stay on disk, and the newest


def test_quick_eval_reads_the_jobs_own_defaults_and_bounds() -> None:
    """No second set of defaults (issue #12): what the callback does with an empty dict is what a job with
    no hyperparameters does, and a bad value fails as it would for a job."""
    from pydantic import ValidationError

    from app.jobs.hyperparameters import TrainHyperparameters
    from worker.evaluation.quick_eval import QuickEvalCallback

    job = TrainHyperparameters()
    callback = QuickEvalCallback(hyperparameters={}, tokenizer=None, eval_rows=[], write_event=print)
    assert (callback.every_n, callback.n_samples, callback.action) == (
        job.quick_eval_every_n_checkpoints, job.quick_eval_samples, job.collapse_action
    )  # fmt: skip
    with pytest.raises(ValidationError, match="collapse_action"):
        QuickEvalCallback(
            hyperparameters={"collapse_action": "explode"}, tokenizer=None, eval_rows=[], write_event=print
        )
