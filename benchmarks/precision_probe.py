"""How often the CPU precision probe reads the wrong side of its threshold: the unpaired probe (five fp32
steps, then five bf16 steps, each side's median) vs the paired one `precision: auto` uses now
(worker/training/precision.py: back-to-back pairs in alternating order, median of the ratios).

    python benchmarks/precision_probe.py [--trials 20] [--model DEMO_DIR]
        [--out benchmarks/results/precision_probe.json]

Each trial runs each probe in a fresh process, as a new training child does (alternating which goes
first), on an idle machine and beside a process that keeps one core busy (a worker machine that also serves
a model or runs the web app), and inside a real training child (one step of a tiny model) on an idle machine.
With `--model` the real question is also measured: a forward + backward of that model on a batch of 4 x 384
tokens, fp32 vs bf16 autocast, paired, so the probes' readings can be set against the speedup training gets.
The raw readings (with the machine's load average) are written beside this script as JSON.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(REPO))
OUT = Path(__file__).resolve().parent / "results" / "precision_probe.json"


def unpaired_probe(repeats: int = 5) -> float:
    """The probe as it was (probe version 1): a warm-up, `repeats` fp32 steps, then a warm-up and `repeats`
    bf16 steps; median fp32 time / median bf16 time."""
    from worker.training.precision import probe_steps

    def median_time(step: Any) -> float:
        step()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            step()
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    fp32, bf16 = probe_steps()
    return median_time(fp32) / median_time(bf16)


# unpaired: probe version 1; paired_cold: pairs without the untimed warm-up; paired: the probe as it is now.
PROBES = ("unpaired", "paired_cold", "paired")
CONDITIONS = ("idle", "one core busy", "in the training child")


def read_probe(name: str) -> float:
    """One reading of a probe variant (built from the module's parts, not measure_cpu_bf16_speedup, which
    the child condition replaces by this function)."""
    from worker.training import precision

    if name == "unpaired":
        return unpaired_probe()
    warm = 0.0 if name == "paired_cold" else precision.WARM_SECONDS
    return precision.paired_speedup(*precision.probe_steps(), pairs=15, warm_seconds=warm)


def write_child_rows(path: Path) -> Path:
    """The training child's data: eight copies of one short exchange (one step is all it trains)."""
    row = {
        "messages": [{"role": "user", "content": "你好"}, {"role": "assistant", "content": "你好，请讲。"}]
    }
    path.write_text((json.dumps(row, ensure_ascii=False) + "\n") * 8, encoding="utf-8")
    return path


def child_reading(probe: str, tiny_model: Path, data: Path, work: Path) -> float:
    """The reading `precision: auto` makes at the start of a real training child (python -m
    worker.training.sft, one step of a tiny model on ``data``), from its start event's precision_reason;
    the probe variant is swapped in before the child runs, a fresh cache folder each time."""
    run_dir = work / f"run-{time.monotonic_ns()}" / "run"
    run_dir.mkdir(parents=True)
    config = {
        "job_id": "probe", "run_dir": str(run_dir), "method": "full", "base_model": {"path": str(tiny_model)},
        "dataset": {"train_path": str(data)}, "hyperparameters": {"max_steps": 1, "precision": "auto"},
    }  # fmt: skip
    (run_dir / "config.json").write_text(json.dumps(config), encoding="utf-8")
    swap = (
        "import runpy, sys, worker.training.precision as p; import benchmarks.precision_probe as b; "
        f"p.measure_cpu_bf16_speedup = lambda *a, **k: b.read_probe({probe!r}); "
        "sys.argv = ['sft', '--config', sys.argv[1]]; "
        "runpy.run_module('worker.training.sft', run_name='__main__', alter_sys=True)"
    )
    cmd = [sys.executable, "-c", swap, str(run_dir / "config.json")]
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    subprocess.run(cmd, cwd=REPO, env=env, check=True, capture_output=True)
    start = json.loads((run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()[0])
    return float(re.search(r"measured ([0-9.]+)x", start["precision_reason"]).group(1))


def fresh_reading(probe: str) -> float:
    """One probe reading in a new Python process (a new child has cold kernels and caches)."""
    cmd = [sys.executable, __file__, "--one", probe]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(cmd, cwd=REPO, env=env, check=True, capture_output=True, text=True)
    return float(done.stdout.strip().splitlines()[-1])


def _busy(stop: Any) -> None:
    while not stop.is_set():
        sum(i * i for i in range(10_000))


def model_speedup(model_dir: str, pairs: int = 4) -> float:
    """fp32 / bf16-autocast time of a forward + backward of the real model on 4 x 384 tokens, paired."""
    import torch
    from transformers import AutoModelForCausalLM

    from worker.training.precision import paired_speedup

    net = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    net.config.use_cache = False
    ids = torch.randint(0, net.config.vocab_size, (4, 384), generator=torch.Generator().manual_seed(0))

    def fp32() -> None:
        net.zero_grad(set_to_none=True)
        net(input_ids=ids, labels=ids).loss.backward()

    def bf16() -> None:
        net.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = net(input_ids=ids, labels=ids).loss
        loss.backward()

    return paired_speedup(fp32, bf16, pairs)


def _summary(values: list[float], threshold: float) -> dict[str, Any]:
    below = sum(1 for v in values if v < threshold)
    return {
        "median": statistics.median(values), "min": min(values), "max": max(values),
        "below_threshold": below, "trials": len(values),
    }  # fmt: skip


def main() -> int:
    from worker.training.precision import BF16_MIN_SPEEDUP
    from worker.training.tiny_model import main as build_tiny_model

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--model", help="also time the real model's fp32 vs bf16 training step")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--one", choices=PROBES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(read_probe(args.one))
        return 0
    result: dict[str, Any] = {
        "args": {k: str(v) for k, v in vars(args).items() if k != "one"}, "load_before": os.getloadavg(),
        "threshold": BF16_MIN_SPEEDUP, "conditions": {},
    }  # fmt: skip
    if args.model:
        result["model_speedup"] = model_speedup(args.model)
        print(f"real model, forward + backward 4 x 384 tokens: bf16 {result['model_speedup']:.2f}x fp32")
    work = Path(tempfile.mkdtemp(prefix="ftstudio-probe-"))
    build_tiny_model([str(work / "tiny")])
    child_rows = write_child_rows(work / "rows.jsonl")
    for condition in CONDITIONS:
        stop = multiprocessing.Event()
        busy = multiprocessing.Process(target=_busy, args=(stop,)) if condition == "one core busy" else None
        if busy:
            busy.start()
        readings: dict[str, list[float]] = {name: [] for name in PROBES}
        in_child = condition == "in the training child"
        try:
            for i in range(args.trials):
                for name in PROBES if i % 2 == 0 else PROBES[::-1]:
                    if in_child:
                        readings[name].append(child_reading(name, work / "tiny", child_rows, work))
                    else:
                        readings[name].append(fresh_reading(name))
        finally:
            if busy:
                stop.set()
                busy.join()
        result["conditions"][condition] = {
            name: {**_summary(values, BF16_MIN_SPEEDUP), "readings": values}
            for name, values in readings.items()
        }
        for name, values in readings.items():
            s = _summary(values, BF16_MIN_SPEEDUP)
            print(f"{condition:20s} {name:11s} bf16 speedup median {s['median']:.2f} [{s['min']:.2f}, "
                  f"{s['max']:.2f}]; below {BF16_MIN_SPEEDUP} (picks fp32) in {s['below_threshold']} of "
                  f"{s['trials']}")  # fmt: skip
    shutil.rmtree(work, ignore_errors=True)
    result["load_after"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(f"raw results: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
