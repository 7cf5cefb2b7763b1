"""quality.py's arms: how each is trained under the same wall-clock budget.

Studio arms run the real training child (python -m worker.training.sft) with a method and the hyperparameters
named here (everything else its default) plus max_train_minutes. Bare arms run `bare_train` in a child process
of their own (`python benchmarks/quality_arms.py --bare ARM ...`): an HF Trainer script as an expert writes
it, under the same time budget through the same callback (worker/training/budget.TimeBudget).

`precision: auto` is resolved once per run: the first studio arm that leaves precision to auto makes the
choice, and quality.py passes it to every later such arm (`train_studio(..., precision=...)`), so arms of one
run pair at the same precision. (Each job start may take one more probe reading, and one reading that picks
bf16 would hand an arm ~25 % more steps; saved runs' arms `studio_fp32` and `studio_lr4e-4_fp32` were pinned
by hand before this.)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# benchmarks/datasets.py would pass for the `datasets` library that transformers imports.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(REPO))

# Studio arms: method and the hyperparameters set besides max_train_minutes (everything else: defaults).
# The full-fine-tune arms name split_long_dialogues, whose default changed twice: saved runs of an arm name
# stay comparable (quality.json's studio_full ran with windows, quality_lr.json's with cutting).
STUDIO = {
    # What a user who only clicks Start gets for the demo model: method "auto" resolves to full for it (the
    # child runs concrete methods), every hyperparameter its default, precision auto included.
    "studio_defaults": ("full", {}),
    "studio": ("lora", {}),
    "studio_full": ("full", {"learning_rate": 5e-5, "split_long_dialogues": True}),
    # Ablation: dialogues cut at max_seq_length (as the bare scripts and LLaMA-Factory do) instead of windows.
    "studio_full_truncate": ("full", {"learning_rate": 5e-5, "split_long_dialogues": False}),
    # Cutting at twice the learning rate (the default until later turns were measured: quality_turns.py).
    "studio_full_lr1e-4": ("full", {"learning_rate": 1e-4, "split_long_dialogues": False}),
    # The defaults since: windows, every counsellor reply trained once with the recent context that fits.
    "studio_full_windows": ("full", {"learning_rate": 1e-4, "split_long_dialogues": True}),
    # The defaults with each long dialogue's opening window trained three times: openings become ~36 % of
    # the examples instead of ~16 % (CPsyCoun at 384 tokens), a candidate when the first reply matters.
    "studio_opening3": ("full", {"opening_weight": 3}),
    # The defaults with the user turns trained too, as the bare scripts train every token: the same
    # compute per step buys more loss-bearing tokens (how clients write, the system prompt with openings).
    "studio_train_prompt": ("full", {"train_on_prompt": True}),
    # Twice the learning rate of the defaults then (the default since, c42ffb3): a 20-minute budget is
    # 60-140 steps by host, about 1 % of an epoch, far from convergence, where a larger step may buy more.
    "studio_lr2e-4": ("full", {"learning_rate": 2e-4}),
    # The next step of the learning-rate sweep (run 4e-4 ties 2e-4: results/quality_lr4.json).
    "studio_lr4e-4": ("full", {"learning_rate": 4e-4}),
}
SEQ = 384  # max_seq_length of every arm (the studio's default, the bare scripts' "seq")
BARE = {
    "bare_lora": {"lora": True, "lr": 2e-4, "r": 16, "batch": 4, "accum": 2, "seq": SEQ},
    "bare_full": {"lora": False, "lr": 5e-5, "batch": 4, "accum": 2, "seq": SEQ},
}


def child_env() -> dict[str, str]:
    """The environment of an arm's child: offline hub (the model is a local folder), the repo importable."""
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(REPO)}


def leaves_precision_to_auto(arm: str) -> bool:
    """Whether a studio arm's precision is `auto` (its own hyperparameters do not pin one)."""
    return STUDIO[arm][1].get("precision", "auto") == "auto"


def train_studio(
    arm: str, model: str, train: Path, budget: float, work: Path, precision: str | None = None
) -> tuple[Path, dict[str, Any]]:
    """Train a studio arm; ``precision`` replaces `auto` for an arm that leaves it to auto. Returns the
    saved model folder and the run's end event (with the precision the child ran at, and why)."""
    run_dir = work / arm
    run_dir.mkdir(parents=True, exist_ok=True)
    method, hp = STUDIO[arm]
    if precision and leaves_precision_to_auto(arm):
        hp = {**hp, "precision": precision}
    config = {
        "job_id": "quality", "run_dir": str(run_dir), "method": method,
        "base_model": {"path": model}, "dataset": {"train_path": str(train)},
        "hyperparameters": {**hp, "max_train_minutes": budget},
    }  # fmt: skip
    (run_dir / "config.json").write_text(json.dumps(config), encoding="utf-8")
    cmd = [sys.executable, "-m", "worker.training.sft", "--config", str(run_dir / "config.json")]
    subprocess.run(cmd, cwd=REPO, env=child_env(), check=True, capture_output=True)
    events = (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    start, end = json.loads(events[0]), json.loads(events[-1])
    # What `precision: auto` chose decides the steps a budget buys (2x on a CPU with fast bf16): recorded,
    # since one processor name can choose either.
    end["precision"], end["precision_reason"] = start.get("precision"), start.get("precision_reason")
    if end.get("status") != "succeeded":  # e.g. paused by the collapse watch: score what it saved
        print(f"{arm} run ended {end.get('status')}: {end.get('reason')}", flush=True)
    return run_dir / (end.get("output_path") or "final"), end


def bare_train(arm: str, model: str, train: Path, budget: float, out: Path) -> None:
    """The bare script (runs in a child process of its own: `run_bare`)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        DataCollatorForSeq2Seq,
        Trainer,
        TrainingArguments,
    )

    from worker.training.budget import BUDGET_PLACEHOLDER_STEPS, TimeBudget

    cfg = BARE[arm]
    tok = AutoTokenizer.from_pretrained(model)
    tok.pad_token = tok.pad_token or tok.eos_token
    features = []
    for line in train.read_text(encoding="utf-8").splitlines():
        ids = tok.apply_chat_template(json.loads(line)["messages"], tokenize=True, return_dict=False)
        ids = list(ids["input_ids"] if isinstance(ids, dict) else ids)[: cfg["seq"]]
        features.append({"input_ids": ids, "attention_mask": [1] * len(ids), "labels": list(ids)})
    net = AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32)
    if cfg["lora"]:
        lora = LoraConfig(r=cfg["r"], lora_alpha=2 * cfg["r"], lora_dropout=0.05, target_modules="all-linear")
        net = get_peft_model(net, lora)
    args = TrainingArguments(
        output_dir=str(out / "tmp"), max_steps=BUDGET_PLACEHOLDER_STEPS, learning_rate=cfg["lr"],
        per_device_train_batch_size=cfg["batch"], gradient_accumulation_steps=cfg["accum"],
        lr_scheduler_type="cosine", warmup_steps=5, logging_steps=10, save_strategy="no", report_to=[],
        seed=42, use_cpu=not torch.cuda.is_available(), remove_unused_columns=False,
    )  # fmt: skip
    budget_cb = TimeBudget(budget, cap_steps=None, has_eval=False, write_event=lambda e: None)
    collator = DataCollatorForSeq2Seq(tok, padding=True, label_pad_token_id=-100)
    trainer = Trainer(
        model=net, args=args, train_dataset=features, data_collator=collator, callbacks=[budget_cb]
    )
    trainer.train()
    trainer.save_model(str(out))
    tok.save_pretrained(str(out))
    (out / "steps.json").write_text(json.dumps({"steps": trainer.state.global_step}), encoding="utf-8")


def run_bare(arm: str, model: str, train: Path, budget: float, out: Path) -> int:
    """Train a bare arm in a child process (its imports and memory leave with it); returns its steps."""
    cmd = [sys.executable, __file__, "--model", model, "--bare", arm, "--train-file", str(train),
           "--bare-out", str(out), "--budget-minutes", str(budget)]  # fmt: skip
    subprocess.run(cmd, cwd=REPO, env=child_env(), check=True, capture_output=True)
    return int(json.loads((out / "steps.json").read_text(encoding="utf-8"))["steps"])


def main() -> int:
    parser = argparse.ArgumentParser(description="one bare arm of quality.py (run by quality.py)")
    parser.add_argument("--model", required=True)
    parser.add_argument("--bare", required=True, choices=sorted(BARE))
    parser.add_argument("--train-file", type=Path, required=True)
    parser.add_argument("--bare-out", type=Path, required=True)
    parser.add_argument("--budget-minutes", type=float, required=True)
    args = parser.parse_args()
    bare_train(args.bare, args.model, args.train_file, args.budget_minutes, args.bare_out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
