"""Whole-dialogue quality from two quality.py runs of the same arms: a first-turn run and a later-turn run.

    python benchmarks/quality_turns.py FIRST.json LATER.json [--arms a,b] [--out results/quality_turns.json]

A counselling model answers every turn of a dialogue, not only the first. quality.py scores one held-out
reply per dialogue: the first (`--heldout-turn first`) or a later one (`later`: the third or after). Both
runs hold out the same dialogues (same data, seed and count: checked), so item i of each is dialogue i. This
script weighs them as a reply drawn uniformly from dialogue d would: score_d = first_d / R_d + later_d *
(R_d - 1) / R_d, with R_d the dialogue's number of counsellor replies (the second reply is stood in for by the
later one: an approximation, said in the output). Arms are compared with the paired bootstrap over
dialogues (worker/evaluation/bootstrap.py), second arm minus first.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(REPO))
METRICS = ("bleu4", "rouge_l")


def reply_counts(data: Path, heldout: int, seed: int) -> list[int]:
    """Counsellor replies per held-out dialogue, in quality.py's held-out order."""
    from benchmarks.quality_items import split

    _, held = split(data, heldout, seed)
    return [
        sum(1 for i, m in enumerate(row["messages"]) if m["role"] == "assistant" and i > 0) for row in held
    ]


def whole_dialogue(first: dict[str, Any], later: dict[str, Any], counts: list[int]) -> dict[str, list[float]]:
    """Per-dialogue expected score of a uniformly drawn reply, for each metric."""
    return {
        metric: [
            f / r + lt * (r - 1) / r
            for f, lt, r in zip(first["per_item"][metric], later["per_item"][metric], counts, strict=True)
        ]
        for metric in METRICS
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("first", type=Path)
    parser.add_argument("later", type=Path)
    parser.add_argument("--arms", help="two arms, a,b: b minus a (default: the arms both runs have)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "quality_turns.json")
    args = parser.parse_args()
    from benchmarks.quality_compare import run_differences
    from worker.evaluation.bootstrap import paired_bootstrap_mean_diff

    first, later = (json.loads(p.read_text(encoding="utf-8")) for p in (args.first, args.later))
    turns = (first["args"].get("heldout_turn", "first"), later["args"].get("heldout_turn"))
    if turns != ("first", "later"):
        raise SystemExit(f"need a first-turn run then a later-turn run, got {turns}")
    mismatch = run_differences(first, later)
    if mismatch:
        raise SystemExit(f"the runs differ in {', '.join(mismatch)}: not the same held-out items")
    counts = reply_counts(
        Path(first["args"]["data"]), int(first["args"]["heldout"]), int(first["args"]["seed"])
    )
    arms = args.arms.split(",") if args.arms else [a for a in first["arms"] if a in later["arms"]]
    result: dict[str, Any] = {
        "first": str(args.first), "later": str(args.later), "mean_replies": sum(counts) / len(counts),
        "approximation": "the second reply is stood in for by the sampled later one", "arms": {},
    }  # fmt: skip
    for arm in arms:
        scores = whole_dialogue(first["arms"][arm], later["arms"][arm], counts)
        result["arms"][arm] = {m: sum(v) / len(v) for m, v in scores.items()} | {"per_item": scores}
        print(f"{arm:20s} " + "  ".join(f"{m} {result['arms'][arm][m]:6.2f}" for m in METRICS))
    for a, b in zip(arms, arms[1:], strict=False):
        diffs = {}
        for metric in METRICS:
            ci = paired_bootstrap_mean_diff(
                result["arms"][a]["per_item"][metric], result["arms"][b]["per_item"][metric]
            )
            diffs[metric] = ci.to_dict()
            print(f"{b} - {a} {metric}: {ci.diff:+.2f} [{ci.low:+.2f}, {ci.high:+.2f}]")
        result[f"{b}_minus_{a}"] = diffs
    mean = result["mean_replies"]
    print(f"(a reply drawn uniformly per dialogue, mean {mean:.1f} replies; {result['approximation']})")
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"raw results: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
