"""Useful tokens per second: studio defaults vs a padded HF Trainer, and the studio's overhead on equal work.

    python benchmarks/throughput.py --model DIR [--method full|lora] [--data FILE] [--steps 20] [--rows 400]
        [--repeats 3] [--comparisons useful,overhead] [--out benchmarks/results/throughput.json]

Data: the first `--rows` rows of `--data` (default the CPsyCoun dialogues in ../shared/data; any file the
studio accepts for upload, read by the studio's own ingest, e.g. LLaMA-Factory's alpaca_zh_demo.json). Both
sides train the same examples (the studio's own tokenisation: assistant-only labels, max_seq_length), the same
method (`--method`: full, what "auto" picks for the demo model, or LoRA with the form's defaults), batch,
accumulation, learning rate, optimizer, seed and number of optimizer steps.

1. useful tokens/s = loss-bearing (labelled) tokens / training-loop seconds:
   studio = the real training child with the form's defaults (padding-free packing where exact);
   padded = a bare HF Trainer (+ PEFT for LoRA), one example per row, padded (DataCollatorForSeq2Seq).
   Goal >= 1.3x. The padded side also reports its padding share (pad positions / all positions of its
   batches): packing removes at most that work, so the linear part of a step speeds up by at most
   1 / (1 - share) (a data property: rows that all fill max_seq_length leave nothing to remove).
2. overhead on equal work: the child with packing off (one example per row, random order: the very batches
   the bare Trainer gets) vs the bare Trainer, steps/s, both saving the one checkpoint the Trainer writes
   when max_steps is reached. Goal >= 0.97. Then one more run of each side under cProfile: the cumulative
   seconds of the metrics callback, the TensorBoard writer, the collate function, the loss watch and the
   checkpoint save are reported, and the functions whose own time (tottime) the studio exceeds the bare
   Trainer's by most: where the rest of the gap is, if Python sees it.
`--comparisons overhead` skips the first comparison (the second alone costs half the time).
Each comparison runs `--repeats` pairs with alternating order; medians and [min, max] are printed; the raw
JSON (with the machine's load average) is written beside this script.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(REPO))
from benchmarks.profiles import PROFILE_TRAIN, cumulative_seconds, own_times, profile_gap  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "cpsycoun" / "dialogues.jsonl"
OUT = Path(__file__).resolve().parent / "results" / "throughput.json"


def _env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(REPO)}


METHODS = ("full", "lora")


def _hp(steps: int, packing: bool) -> dict[str, Any]:
    return {"max_steps": steps, "save_steps": steps + 1, "packing": packing, "precision": "fp32"}


def run_studio(
    model: str, method: str, data: Path, steps: int, packing: bool, work: Path, *, profile: bool = False
) -> dict[str, Any]:
    run_dir = work / f"studio-{'packed' if packing else 'rows'}-{time.monotonic_ns()}"
    run_dir.mkdir(parents=True)
    config = {
        "job_id": "throughput", "run_dir": str(run_dir), "method": method, "base_model": {"path": model},
        "dataset": {"train_path": str(data)}, "hyperparameters": _hp(steps, packing),
    }  # fmt: skip
    (run_dir / "config.json").write_text(json.dumps(config), encoding="utf-8")
    prof = run_dir / "profile.out"
    # cProfile slows every Python call: only the separate profiling run uses it, never a measured one.
    cmd = [sys.executable, *([str(PROFILE_TRAIN), str(prof)] if profile else []), "-m",
           "worker.training.sft", "--config", str(run_dir / "config.json")]  # fmt: skip
    subprocess.run(cmd, cwd=REPO, env=_env(), check=True, capture_output=True)
    events = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    end = events[-1]
    start = events[0]
    seconds = cumulative_seconds(prof) if profile else {}
    own = own_times(prof) if profile else {}
    return {
        "side": "studio", "packing": packing, "batching": start.get("batching"), "steps": end["step"],
        "train_runtime": end["train_runtime"], "label_tokens": end["label_tokens"],
        "useful_tokens_per_second": end["label_tokens"] / end["train_runtime"],
        "steps_per_second": end["step"] / end["train_runtime"], "profile_seconds": seconds,
        "own_seconds": own,
    }  # fmt: skip


def bare(model: str, method: str, data: Path, steps: int, out: Path) -> None:
    """The padded HF Trainer (runs in its own process: `throughput.py --bare ...`)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        DataCollatorForSeq2Seq,
        Trainer,
        TrainingArguments,
    )

    from app.jobs.hyperparameters import TrainHyperparameters, default_learning_rate
    from worker.training.chat_data import load_rows
    from worker.training.collate import unpacked_rows
    from worker.training.windows import build_examples

    hp = TrainHyperparameters(**_hp(steps, False))
    tok = AutoTokenizer.from_pretrained(model)
    tok.pad_token = tok.pad_token or tok.eos_token
    # The studio child's own tokenisation with the job's defaults, so both sides train the same examples.
    examples, _ = build_examples(
        load_rows(data), tok, hp.max_seq_length, split_long_dialogues=hp.split_long_dialogues
    )
    rows = [{**r, "attention_mask": [1] * len(r["input_ids"])} for r in unpacked_rows(examples)]
    net = AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32)
    if method == "lora":
        # PEFT's own names, as a bare script writes them (not the studio's resolver).
        all_linear = hp.lora_target_modules in ("all-linear", "attention+mlp")
        targets = "all-linear" if all_linear else ["q_proj", "k_proj", "v_proj", "o_proj"]
        net = get_peft_model(
            net,
            LoraConfig(
                r=hp.lora_r, lora_alpha=hp.lora_alpha, lora_dropout=hp.lora_dropout, target_modules=targets
            ),
        )
    counts = {"labelled": 0, "real": 0, "positions": 0}

    class Counting(DataCollatorForSeq2Seq):
        def __call__(self, features, return_tensors=None):  # type: ignore[no-untyped-def]
            counts["labelled"] += sum(sum(1 for t in f["labels"][1:] if t != -100) for f in features)
            lengths = [len(f["input_ids"]) for f in features]
            counts["real"] += sum(lengths)
            counts["positions"] += max(lengths) * len(lengths)
            return super().__call__(features, return_tensors)

    args = TrainingArguments(
        output_dir=str(out), max_steps=steps, per_device_train_batch_size=hp.per_device_train_batch_size,
        gradient_accumulation_steps=hp.gradient_accumulation_steps,
        learning_rate=hp.learning_rate or default_learning_rate(method),
        lr_scheduler_type=hp.lr_scheduler_type, optim=hp.optim, logging_steps=hp.logging_steps,
        # The child's save schedule (hp.save_steps > steps): the Trainer still saves one checkpoint when
        # max_steps is reached (DefaultFlowCallback, save_strategy "steps"), inside train_runtime; with
        # save_strategy "no" the bare side skipped that write (weights + AdamW states: ~1.6 GB for the demo
        # model's full fine-tune) and the overhead ratio read 0.91 for full, ~1.0 for LoRA.
        save_strategy="steps", save_steps=hp.save_steps, report_to=[], seed=hp.seed, data_seed=hp.seed,
        use_cpu=not torch.cuda.is_available(),
        remove_unused_columns=False, dataloader_num_workers=0, disable_tqdm=True,
    )  # fmt: skip
    collator = Counting(tok, padding=True, label_pad_token_id=-100)
    result = Trainer(model=net, args=args, train_dataset=rows, data_collator=collator).train()
    runtime = result.metrics["train_runtime"]
    print(json.dumps({
        "side": "bare", "steps": steps, "train_runtime": runtime, "label_tokens": counts["labelled"],
        "useful_tokens_per_second": counts["labelled"] / runtime, "steps_per_second": steps / runtime,
        "padding_share": 1 - counts["real"] / max(counts["positions"], 1),
    }))  # fmt: skip


def run_bare(
    model: str, method: str, data: Path, steps: int, work: Path, *, profile: bool = False
) -> dict[str, Any]:
    prof = work / f"bare-profile-{time.monotonic_ns()}.out"
    cmd = [sys.executable, *([str(PROFILE_TRAIN), str(prof)] if profile else []), __file__,
           "--model", model, "--method", method, "--bare", "--data", str(data),
           "--steps", str(steps), "--bare-out", str(work / "bare")]  # fmt: skip
    done = subprocess.run(cmd, cwd=REPO, env=_env(), check=True, capture_output=True, text=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if profile:
        result["own_seconds"] = own_times(prof)
    return result


def _studio_rows(path: Path) -> list[list[dict[str, str]]]:
    """The conversations of an upload as the studio stores them (its own reader, format detection and
    normalisation), so an alpaca, ShareGPT or messages file trains the same on both sides."""
    from app.datasets.ingest.pipeline import ingest_file
    from app.datasets.ingest.schema import IngestOptions

    rows, _ = ingest_file(path, original_filename=path.name, options=IngestOptions())
    return [row["messages"] for row in rows]


def _median(values: list[float]) -> tuple[float, float, float]:
    v = sorted(values)
    mid = len(v) // 2
    return (v[mid] if len(v) % 2 else (v[mid - 1] + v[mid]) / 2), v[0], v[-1]


def _ratios(label: str, studio: list[dict], bare: list[dict], key: str, goal: float) -> list[float]:
    """Studio / bare of ``key`` per round (rounds this run skipped have no studio side), median printed."""
    ratios = [s[key] / b[key] for s, b in zip(studio, bare, strict=False)]
    if ratios:
        mid, low, high = _median(ratios)
        print(f"{label}: median {mid:.3f} [{low:.3f}, {high:.3f}] (goal >= {goal})")
    return ratios


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--method", choices=METHODS, default="full")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--rows", type=int, default=400)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--comparisons", default="useful,overhead", help="useful, overhead or both")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--bare", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--bare-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare:
        bare(args.model, args.method, args.data, args.steps, args.bare_out)
        return 0
    result: dict[str, Any] = {
        "args": {k: str(v) for k, v in vars(args).items()},
        "load_before": os.getloadavg(),
    }
    with tempfile.TemporaryDirectory(prefix="ftstudio-throughput-") as tmp:
        work = Path(tmp)
        data = work / "rows.jsonl"
        rows = _studio_rows(args.data)[: args.rows]
        lines = [json.dumps({"messages": r}, ensure_ascii=False) for r in rows]
        data.write_text("\n".join(lines) + "\n", encoding="utf-8")
        runs: dict[str, list[dict]] = {"studio_defaults": [], "studio_rows": [], "bare": []}
        comparisons = set(args.comparisons.split(","))
        for i in range(max(1, args.repeats)):
            order = ["bare", "studio_defaults", "studio_rows"]
            if "useful" not in comparisons:
                order.remove("studio_defaults")
            if "overhead" not in comparisons:
                order.remove("studio_rows")
            if i % 2:
                order.reverse()  # alternate: a warming or loaded machine must not favour one side
            for side in order:
                if side == "bare":
                    runs["bare"].append(run_bare(args.model, args.method, data, args.steps, work))
                else:
                    packing = side == "studio_defaults"
                    runs[side].append(run_studio(args.model, args.method, data, args.steps, packing, work))
                last = runs[side][-1]
                print(f"round {i + 1}: {side}: {last['useful_tokens_per_second']:.1f} useful tok/s, "
                      f"{last['steps_per_second']:.3f} steps/s"
                      + (f", padding {last['padding_share']:.1%}" if "padding_share" in last else ""),
                      flush=True)  # fmt: skip
        profiled = run_studio(args.model, args.method, data, args.steps, False, work, profile=True)
        profiled_bare = run_bare(args.model, args.method, data, args.steps, work, profile=True)
    pad = _median([b["padding_share"] for b in runs["bare"]])
    print(f"padding share of the padded batches: median {pad[0]:.1%} (packing gains at most "
          f"~{1 / (1 - pad[0]):.2f}x on the linear part of a step)")  # fmt: skip
    useful = _ratios("useful tokens/s, studio defaults / padded Trainer", runs["studio_defaults"],
                     runs["bare"], "useful_tokens_per_second", goal=1.3)  # fmt: skip
    overhead = _ratios("overhead on equal work, studio / bare steps/s", runs["studio_rows"], runs["bare"],
                       "steps_per_second", goal=0.97)  # fmt: skip
    for label, secs in profiled["profile_seconds"].items():
        share = secs / profiled["train_runtime"]
        print(f"  profile (packing off, one cProfile run): {label}: {secs:.3f} s = {share:.1%} of the loop")
    runtimes = (profiled["train_runtime"], profiled_bare["train_runtime"])
    print(f"  profiled loops: studio {runtimes[0]:.1f} s, bare {runtimes[1]:.1f} s; "
          "own time (Trainer.train only) most above bare:")  # fmt: skip
    gap = profile_gap(profiled.pop("own_seconds"), profiled_bare.pop("own_seconds"))
    for key, secs in gap:
        print(f"    +{secs:7.3f} s  {key}")
    result.update(
        runs=runs,
        profiled_run=profiled,
        profiled_bare_run=profiled_bare,
        profile_gap=gap,
        useful_ratio=useful,
        overhead_ratio=overhead,
        load_after=os.getloadavg(),
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(f"raw results: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
