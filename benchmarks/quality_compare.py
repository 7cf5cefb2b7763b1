"""quality.py's comparisons: which saved runs pair with this one (the same held-out items after the same
budget on the same kind of processor), and the paired bootstrap of every arm minus every studio arm.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def cpu() -> dict[str, Any]:
    """What decides an arm's steps per budget: the processor (virtual ones share a name, so its bf16
    instructions too: precision auto picks bf16 where they make it faster) and its core count."""
    flags: set[str] = set()
    name = ""
    for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
        if line.startswith("model name") and not name:
            name = line.split(":", 1)[1].strip()
        elif line.startswith("flags") and not flags:
            flags = set(line.split(":", 1)[1].split())
    return {"name": name, "cores": os.cpu_count(), "bf16": sorted(flags & {"avx512_bf16", "amx_bf16"})}


def run_differences(earlier: dict[str, Any], result: dict[str, Any]) -> list[str]:
    """What makes two runs' items or training differ, besides the held-out turn: the held-out dialogues
    (data, seed, count), the answers' length, the training budget and the processor."""
    same = ("data", "seed", "heldout", "max_new_tokens", "budget_minutes")
    mismatch = [k for k in same if earlier["args"].get(k) != result["args"].get(k)]
    if earlier.get("cpu") != result.get("cpu"):
        mismatch.append(f"processor ({earlier.get('cpu', 'not recorded')} vs {result.get('cpu')})")
    return mismatch


def earlier_arms(path: Path, result: dict[str, Any]) -> dict[str, Any]:
    """Arms of an earlier run, for paired comparisons: only if it scored the very same held-out items
    after the same training budget on the same kind of processor."""
    earlier = json.loads(path.read_text(encoding="utf-8"))
    mismatch = run_differences(earlier, result)
    if heldout_turn(earlier) != heldout_turn(result):
        mismatch.append("heldout_turn")
    if mismatch:
        raise SystemExit(f"{path}: not comparable, it differs in {', '.join(mismatch)}")
    return {arm: {**{k: v for k, v in data.items() if not k.startswith("minus_")}, "from": str(path)}
            for arm, data in earlier["arms"].items()}  # fmt: skip


def save(result: dict[str, Any], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")


def compare_and_save(result: dict[str, Any], compare_with: list[Path], out: Path) -> None:
    """Paired bootstrap of every arm against every studio arm (earlier runs' arms included), then save."""
    from worker.evaluation.bootstrap import paired_bootstrap_mean_diff

    for earlier in compare_with:
        for arm, data in earlier_arms(earlier, result).items():
            result["arms"].setdefault(arm, data)
    # Every arm is compared against every studio arm; saved runs' arms count by their name (arms once in
    # STUDIO, such as studio_fp32, keep being studio arms).
    studio_arms = [a for a in result["arms"] if a.startswith("studio")]
    for i, name in enumerate(studio_arms):
        studio = result["arms"][name]
        for arm, data in result["arms"].items():
            if arm in studio_arms[: i + 1]:  # itself, or a studio arm already compared the other way
                continue
            diffs = data.setdefault(f"minus_{name}", {})
            for metric in ("bleu4", "rouge_l"):
                # paired_bootstrap_mean_diff(a, b) is the mean of b - a: here arm minus studio arm.
                ci = paired_bootstrap_mean_diff(studio["per_item"][metric], data["per_item"][metric])
                diffs[metric] = ci.to_dict()
                print(f"{arm:11s} - {name:11s} {metric}: {ci.diff:+.2f} [{ci.low:+.2f}, {ci.high:+.2f}]")
    result["load_after"] = os.getloadavg()
    save(result, out)


def heldout_turn(run: dict[str, Any]) -> str:
    """The held-out turn a run scored."""
    # Runs from before --heldout-turn existed scored first turns.
    return run["args"].get("heldout_turn", "first")


def earlier_turn(path: Path) -> str:
    """The held-out turn an earlier run's saved JSON scored."""
    return heldout_turn(json.loads(path.read_text(encoding="utf-8")))
