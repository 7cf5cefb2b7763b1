"""A job's predicted peak (what the job page shows) vs the real training child's measured peak, on this CPU.

    python benchmarks/planner_job.py --model DEMO_DIR [--cases full:bf16,full:fp32,lora:bf16,lora:fp32]
        [--steps 3] [--rows 48] [--out benchmarks/results/planner_job.json]

benchmarks/planner_cpu.py checks the planner's terms against a bare Trainer on a random model (fp32, batch 2,
no accumulation). This one checks the whole path a user sees: the job's hyperparameters (every default
except method and precision), app/jobs/prediction.predict_peak_bytes (the number stored on the job), and
the training child (python -m worker.training.sft) on real CPsyCoun dialogues with the demo model, its
end event's peak (VmHWM, worker/peak_rss.py). Each case runs in its own process. Ratio = measured /
predicted; issue #12 asks for the planner to model what runs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(REPO))
DATA = REPO.parent / "shared" / "data" / "cpsycoun" / "dialogues.jsonl"
OUT = Path(__file__).resolve().parent / "results" / "planner_job.json"


def job_hyperparameters(method: str, precision: str, steps: int) -> dict[str, Any]:
    """The job config's hyperparameters: validated exactly as POST /api/v1/jobs validates them."""
    from app.jobs.service import validate_hyperparameters

    requested = {"precision": precision, "max_steps": steps, "save_steps": 10_000, "logging_steps": 1}
    return validate_hyperparameters(method, requested, gpu_available=False).model_dump()


def run_child(model: str, method: str, hp: dict[str, Any], train: Path, run_dir: Path) -> dict[str, Any]:
    run_dir.mkdir(parents=True)
    config = {
        "job_id": "planner-job", "run_dir": str(run_dir), "method": method,
        "base_model": {"path": model}, "dataset": {"train_path": str(train)}, "hyperparameters": hp,
    }  # fmt: skip
    (run_dir / "config.json").write_text(json.dumps(config), encoding="utf-8")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(REPO)}
    argv = [sys.executable, "-m", "worker.training.sft", "--config", str(run_dir / "config.json")]
    done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{method} child failed:\n{done.stderr[-3000:]}")
    from worker.training.events import read_events

    events = read_events(run_dir)
    end = next(e for e in events if e["event"] == "end")
    start = next(e for e in events if e["event"] == "start")
    return {"end": end, "precision": start.get("precision"), "batching": start.get("batching")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="the demo model folder (python -m worker.demo_model)")
    parser.add_argument("--cases", default="full:bf16,full:fp32,lora:bf16,lora:fp32")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--rows", type=int, default=48, help="CPsyCoun dialogues to train on")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    from app.jobs.prediction import predict_peak_bytes
    from app.planner import plan, request_from_hyperparameters

    rows = DATA.read_text(encoding="utf-8").splitlines()[: args.rows]
    results = []
    print(f"{'case':11s} {'measured GiB':>12s} {'predicted GiB':>13s} {'ratio':>6s}")
    with tempfile.TemporaryDirectory(prefix="ftstudio-planner-job-") as tmp:
        train = Path(tmp) / "train.jsonl"
        train.write_text("\n".join(rows) + "\n", encoding="utf-8")
        for case in args.cases.split(","):
            method, precision = case.split(":")
            hp = job_hyperparameters(method, precision, args.steps)
            predicted = predict_peak_bytes(args.model, method, hp)["cpu"]
            request, _ = request_from_hyperparameters(args.model, {**hp, "method": method}, device="cpu")
            breakdown = plan(request, with_recommendations=False).per_gpu.breakdown
            measured = run_child(args.model, method, hp, train, Path(tmp) / case.replace(":", "-"))
            peak = measured["end"]["peak_memory_bytes"]
            ratio = peak / predicted
            results.append({"case": case, "measured_bytes": peak, "predicted_bytes": predicted,
                            "ratio": ratio, "planner_breakdown": breakdown, **measured})  # fmt: skip
            print(f"{case:11s} {peak / 2**30:12.2f} {predicted / 2**30:13.2f} {ratio:6.3f}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {"model": args.model, "steps": args.steps, "rows": args.rows, "load": os.getloadavg(),
              "cases": results}  # fmt: skip
    args.out.write_text(json.dumps(report, indent=1), encoding="utf-8")
    print(f"raw results: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
