"""`precision: auto` on this worker: bf16 on GPUs that have it, fp16 (loss scaling) on older GPUs, and on a
CPU what a small measured probe found faster (fp32 unless bf16 wins on this processor).

The CPU probe times a forward + backward of a small MLP in fp32 and under bf16 autocast (the Trainer's own
mixed precision) in back-to-back pairs, alternating which goes first, and takes the median of the pairs'
ratios: a slow moment of a shared machine (another process, a VM's stolen time) then spoils one pair rather
than one side. The earlier probe timed five fp32 steps, then five bf16 steps: on a 2-core VM where the real
model's forward + backward runs 1.89x faster in bf16 it once read 0.89x at a child's start, chose fp32 and
cut a 20-minute job from ~88 to 65 steps, and the cache would have kept that for every later job
(benchmarks/precision_probe.py measures the probes). bf16 must be clearly faster
(BF16_MIN_SPEEDUP) to win: mixed bf16 gives the same quality as fp32 for fine-tuning (fp32 master weights
stay fp32), so speed decides. Readings are cached per processor and torch version in a JSON file next to
the runs; the choice is the median of the readings so far, and the probe (about three seconds) runs at the
start of each job until READINGS_TO_SETTLE readings, taken at different times, are cached: a moment when
the machine was busy then decides at most one job, not every later job on that worker.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.jobs.trainer_args import ConcretePrecision, resolve_precision

BF16_MIN_SPEEDUP = 1.15  # below this, timing noise could pick bf16 for nothing
CACHE_NAME = ".precision_probe.json"
# Untimed work before the timed pairs, a precaution: at the start of two quality-benchmark children the probe
# read bf16 at 0.89x (unpaired) and 1.16x (paired), where fresh processes and tiny-model training children on
# an idle machine read 1.28-2.61x and the real model runs 1.89x (benchmarks/precision_probe.py); the cause of
# the low readings is not known.
WARM_SECONDS = 1.0
# 3: a list of readings per key (2: one paired reading; 1: five fp32 steps, then five bf16 steps).
PROBE_VERSION = 3
# Readings taken (one per job start) before the cached median is final. Under the test suite's load one
# paired reading was 0.93x on a processor that read 1.5-2.6x idle: with three, one such reading is outvoted.
READINGS_TO_SETTLE = 3


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def paired_speedup(
    slow: Callable[[], None], fast: Callable[[], None], pairs: int, warm_seconds: float = 0.0
) -> float:
    """Median over ``pairs`` of time(slow) / time(fast), each pair timed back to back, the order alternating
    (a machine warming up or slowing down must not favour the side that always runs first). Both steps
    first run untimed, once (allocations, kernel selection) and then for at least ``warm_seconds``."""
    warm_until = time.perf_counter() + warm_seconds
    slow()
    fast()
    while time.perf_counter() < warm_until:
        slow()
        fast()
    ratios = []
    for i in range(pairs):
        seconds: dict[str, float] = {}
        order = (("slow", slow), ("fast", fast))
        for name, step in order if i % 2 == 0 else order[::-1]:
            start = time.perf_counter()
            step()
            seconds[name] = time.perf_counter() - start
        ratios.append(seconds["slow"] / seconds["fast"])
    return statistics.median(ratios)


def probe_steps() -> tuple[Callable[[], None], Callable[[], None]]:
    """(fp32 step, bf16-autocast step): forward + backward of the same small MLP."""
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(512, 2048), torch.nn.SiLU(), torch.nn.Linear(2048, 512))
    x = torch.randn(256, 512)

    def fp32() -> None:
        model.zero_grad(set_to_none=True)
        model(x).float().pow(2).mean().backward()

    def bf16() -> None:
        model.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(x)
        out.float().pow(2).mean().backward()

    return fp32, bf16


def measure_cpu_bf16_speedup(pairs: int = 15, warm_seconds: float = WARM_SECONDS) -> float:
    """fp32 step time / bf16-autocast step time of a small MLP (forward + backward), paired median, after
    ``warm_seconds`` of untimed steps."""
    fp32, bf16 = probe_steps()
    return paired_speedup(fp32, bf16, pairs, warm_seconds)


def _read_cache(cache: Path | None) -> dict[str, Any]:
    if cache is None or not cache.is_file():
        return {}
    try:
        known = json.loads(cache.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return known if isinstance(known, dict) else {}


def _write_cache(cache: Path | None, known: dict[str, Any]) -> None:
    if cache is None:
        return
    try:
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(known, indent=1), encoding="utf-8")
        tmp.replace(cache)
    except OSError:
        pass  # a read-only folder: probe again next time


def cpu_bf16_readings(cache_dir: Path | None) -> list[float]:
    """This processor's probe readings: the cached ones, plus a new one while fewer than READINGS_TO_SETTLE
    are cached (two workers probing at once may each keep only their own reading: harmless)."""
    import torch

    # The probe's version is part of the key: readings of an older probe (which could be wrong) are not
    # reused.
    key = f"{_cpu_name()}|torch {torch.__version__}|threads {torch.get_num_threads()}|probe {PROBE_VERSION}"
    cache = Path(cache_dir) / CACHE_NAME if cache_dir else None
    known = _read_cache(cache)
    cached = known.get(key)
    readings = [float(r) for r in cached if isinstance(r, int | float)] if isinstance(cached, list) else []
    if len(readings) < READINGS_TO_SETTLE:
        readings.append(round(measure_cpu_bf16_speedup(), 3))
        known[key] = readings
        _write_cache(cache, known)
    return readings


def resolve(precision: str, cache_dir: Path | None) -> tuple[ConcretePrecision, str | None]:
    """The concrete precision for this worker and a sentence saying why (None when not auto)."""
    import torch

    if precision != "auto":
        return resolve_precision(precision, device="cpu"), None
    if torch.cuda.is_available():
        bf16 = torch.cuda.is_bf16_supported()
        chosen = resolve_precision("auto", device="cuda", bf16_supported=bf16)
        return chosen, f"auto: {chosen} ({'this GPU has bf16' if bf16 else 'this GPU has no bf16'})"
    readings = cpu_bf16_readings(cache_dir)
    speedup = statistics.median(readings)
    chosen = resolve_precision("auto", device="cpu", cpu_prefers_bf16=speedup >= BF16_MIN_SPEEDUP)
    readings_said = "" if len(readings) == 1 else f", median of {len(readings)} readings"
    return chosen, (
        f"auto: {chosen} on this CPU (bf16 autocast measured {speedup:.2f}x the speed of fp32{readings_said})"
    )
