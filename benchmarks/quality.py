"""Fine-tune quality per minute: the studio's defaults vs bare scripts, same data, same time budget.

    python benchmarks/quality.py --model DEMO_DIR [--budget-minutes 20] [--heldout 200] [--seed 0]
        [--arms base,studio,studio_full,bare_lora,bare_full] [--out benchmarks/results/quality.json]
        [--compare-with EARLIER.json ...]   # --arms "" only compares saved runs (the JSON is saved per arm)
        [--heldout-turn first|later|both]   # both: one training per arm scored on both, the later-turn
                                             # results in OUT_later.json (for quality_turns.py)
        [--precision auto|fp32|bf16]         # of the studio arms that leave it to auto; auto: the first
                                             # such arm's choice is given to the later ones

CPsyCoun (../shared/data/cpsycoun/dialogues.jsonl) is split BY DIALOGUE with a seeded shuffle: `--heldout`
dialogues are held out and scored on their FIRST turn (first user message -> first counsellor reply), every
other dialogue trains. `--heldout-turn later` scores a LATER reply instead (a seeded choice among each
held-out dialogue's third and later counsellor replies), its prompt the system prompt plus as many whole
recent exchanges as fit in max_seq_length minus --max-new-tokens tokens: what windows
(split_long_dialogues) train for and truncation never sees (benchmarks/quality_items.py). Every arm gets the
same wall-clock training budget.

Arms (benchmarks/quality_arms.py says how each trains), each in its own process:

- studio_defaults: the real training child (python -m worker.training.sft) with the form's defaults
             (method auto, which is full for the demo model) and max_train_minutes = budget, nothing else set;
- studio:    the same child, method LoRA with its defaults (the form's default method before auto);
- studio_full: the same child, method full, the studio's defaults except the full-fine-tune learning
             rate of bare_full (the candidate default for small models, issue #12 point 6);
- bare_lora: a bare HF Trainer + PEFT script as an expert writes it (LoRA r16 all-linear, batch 4 x 2,
             384 tokens, lr 2e-4, cosine), padded batches;
- bare_full: a bare HF Trainer full fine-tune (batch 4 x 2, 384 tokens, lr 5e-5, cosine);
- base:      the untuned model;
- other studio_* arms: ablations and candidates (quality_arms.STUDIO says what each changes).
`precision: auto` is resolved once per run: the first studio arm that leaves it to auto chooses, every later
one runs at that choice (each arm records it: end_event.precision, precision_chosen_by), so a second probe
reading cannot give one arm bf16 and ~25 % more steps than its partner. The bare scripts get the same time
limit through the same callback (worker/training/budget.TimeBudget), so every arm's schedule ends when its
time does. Scores: BLEU-4 (char, nltk method3) and ROUGE-L (jieba, rouge-chinese) from the project's own
scorer (worker/evaluation/text_metrics.py) on greedy answers (--max-new-tokens, 128 by default); paired
bootstrap 95 % intervals (worker/evaluation/bootstrap.py) of each arm minus each studio arm
(benchmarks/quality_compare.py). The raw JSON (per-item scores, predictions, machine load) is written beside
this script.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# benchmarks/datasets.py would pass for the `datasets` library that transformers imports.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(REPO))

from benchmarks.quality_arms import BARE, SEQ, STUDIO, leaves_precision_to_auto, run_bare, train_studio  # noqa: E402
from benchmarks.quality_compare import compare_and_save, cpu, earlier_turn, save  # noqa: E402
from benchmarks.quality_items import generate, heldout_items, score, split  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "cpsycoun" / "dialogues.jsonl"
OUT = Path(__file__).resolve().parent / "results" / "quality.json"


def train_arm(
    arm: str, args: argparse.Namespace, train: Path, work: Path, precision: str | None
) -> tuple[str, dict[str, Any]]:
    """Train one arm (base: nothing); returns the folder to score and what to record of the training."""
    if arm == "base":
        return args.model, {}
    if arm in STUDIO:
        path, end = train_studio(arm, args.model, train, args.budget_minutes, work, precision)
        return str(path), {"end_event": end}
    out = work / arm
    return str(out), {"steps": run_bare(arm, args.model, train, args.budget_minutes, out)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="the demo model folder (python -m worker.demo_model)")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--budget-minutes", type=float, default=20.0)
    parser.add_argument("--heldout", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--arms", default="base,studio,studio_full,bare_lora,bare_full")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--heldout-turn", choices=("first", "later", "both"), default="first")
    parser.add_argument(
        "--compare-with", type=Path, action="append", default=[],
        help="an earlier run's JSON (same data, seed, held-out count): its arms join the paired comparisons",
    )  # fmt: skip
    parser.add_argument(
        "--precision", choices=("auto", "fp32", "bf16"), default="auto",
        help="for the studio arms that leave precision to auto (auto: the first such arm's choice for all)",
    )  # fmt: skip
    args = parser.parse_args()
    arms = [a for a in args.arms.split(",") if a]
    unknown = [a for a in arms if a != "base" and a not in STUDIO and a not in BARE]
    if unknown:
        parser.error(f"unknown arms: {', '.join(unknown)}")

    train_rows, heldout = split(args.data, args.heldout, args.seed)
    # "both" trains each arm once and scores it on first and on later turns: two results, each saved and
    # compared exactly as a single-turn run's would be (its args name its own turn and file).
    turns = ("first", "later") if args.heldout_turn == "both" else (args.heldout_turn,)
    outs = {"first": args.out, "later": args.out}
    if args.heldout_turn == "both":
        outs["later"] = args.out.with_name(f"{args.out.stem}_later{args.out.suffix}")
    tests = {t: heldout_items(t, heldout, args.model, args.seed, SEQ - args.max_new_tokens) for t in turns}
    recorded = {k: str(v) for k, v in vars(args).items() if v is not None}
    results: dict[str, dict[str, Any]] = {
        turn: {
            "args": {**recorded, "heldout_turn": turn, "out": str(outs[turn])},
            "load_before": os.getloadavg(),
            "cpu": cpu(),
            "train_dialogues": len(train_rows),
            f"heldout_{turn}_turns": len(tests[turn]),
            "arms": {},
        }  # fmt: skip
        for turn in turns
    }
    with tempfile.TemporaryDirectory(prefix="ftstudio-quality-") as tmp:
        work = Path(tmp)
        train = work / "train.jsonl"
        train.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in train_rows) + "\n", "utf-8")
        precision = None if args.precision == "auto" else args.precision
        chosen_by = None if precision is None else "--precision"
        for arm in arms:
            started = time.perf_counter()
            folder, extra = train_arm(arm, args, train, work, precision)
            if arm in STUDIO and leaves_precision_to_auto(arm):
                if precision is None:  # what auto chose here is every later such arm's precision
                    precision, chosen_by = extra["end_event"]["precision"], arm
                    print(f"{arm}: auto chose {precision} ({extra['end_event']['precision_reason']})")
                extra["precision_chosen_by"] = chosen_by
            trained = time.perf_counter() - started
            for turn in turns:
                predictions = generate(folder, args.model, tests[turn], args.max_new_tokens)
                scores = score(predictions, [ref for _, ref in tests[turn]])
                results[turn]["arms"][arm] = {
                    **scores,
                    **extra,
                    "train_wall_seconds": trained,
                    "predictions": predictions,
                }
                print(f"{arm:10s} {turn:5s} BLEU-4 {scores['bleu4']:6.2f}  ROUGE-L {scores['rouge_l']:6.2f}  "
                      f"(train+load {trained:.0f} s)", flush=True)  # fmt: skip
                # After every arm: a run stopped early keeps what it measured.
                save(results[turn], outs[turn])
    for turn in turns:
        # With both turns, each earlier run joins the result of its own turn.
        earlier = [p for p in args.compare_with if len(turns) == 1 or earlier_turn(p) == turn]
        compare_and_save(results[turn], earlier, outs[turn])
        print(f"raw results ({turn} turns): {outs[turn]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
