"""Reading the cProfile output of benchmarks/profile_train.py (only ``Trainer.train`` profiled): what the
studio's own code costs inside the training loop, and where a studio loop spends more than a bare one.

Used by throughput.py and methods.py. On a 2-core virtual machine two runs of the very same training differ
by up to ~15 % in forward/backward time alone (methods.py, 2026-12-01: the same IA3 step 20.0 s then 16.4 s),
so a timing ratio of two processes cannot show a 3 % overhead; the seconds spent in code that only the
studio runs can, because they do not depend on how fast the shared model code ran that time.
"""

from __future__ import annotations

import pstats
from pathlib import Path

PROFILE_TRAIN = Path(__file__).resolve().parent / "profile_train.py"
# Code that runs in the studio's loop and not in a bare Trainer's: "file-suffix:function".
STUDIO_ONLY = {
    "metrics callback": "callbacks.py:on_log",
    "TensorBoard writer": "integration_utils.py:on_log",
    "collate": "collate.py:__call__",
    "loss watch": "collapse.py:observe_loss",
    "checkpoint save": "trainer.py:_save_checkpoint",
}


def cumulative_seconds(profile: Path, where: dict[str, str] = STUDIO_ONLY) -> dict[str, float]:
    """Cumulative seconds (callees included) of each labelled function in ``profile``."""
    stats = pstats.Stats(str(profile))
    seconds: dict[str, float] = {}
    for label, spec in where.items():
        file_part, func = spec.split(":")
        seconds[label] = sum(
            row[3]
            for (file, _line, name), row in stats.stats.items()  # type: ignore[attr-defined]
            if file.endswith(file_part) and name == func
        )
    return seconds


def loop_seconds(profile: Path) -> float:
    """Seconds inside Trainer.train (the only call profile_train.py profiles)."""
    return float(pstats.Stats(str(profile)).total_tt)  # type: ignore[attr-defined]


def own_times(profile: Path) -> dict[str, float]:
    """Each function's own time (tottime, callees excluded), keyed file:line:name with the file's last two
    path parts, so the same library function matches across the two processes."""
    times: dict[str, float] = {}
    for (file, line, name), row in pstats.Stats(str(profile)).stats.items():  # type: ignore[attr-defined]
        key = f"{'/'.join(Path(file).parts[-2:])}:{line}:{name}"
        times[key] = times.get(key, 0.0) + row[2]
    return times


def profile_gap(studio: dict[str, float], bare: dict[str, float], top: int = 10) -> list[tuple[str, float]]:
    """The functions whose own time is most larger in the studio's profiled run than in the bare one's."""
    gaps = {key: secs - bare.get(key, 0.0) for key, secs in studio.items()}
    return sorted(gaps.items(), key=lambda kv: -kv[1])[:top]
