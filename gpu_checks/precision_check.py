"""Precision like the peers, on a GPU: for each method at `precision` auto / bf16 / fp16, the frozen base must
sit in the 16-bit dtype and the trainables in fp32 (full: fp32 masters), and the measured peak of a few
training steps must match the planner's prediction for the same hyperparameters.

    python -m gpu_checks.precision_check [--model PATH] [--steps 5] [--seq-len 512] [--json out.json]
    python -m gpu_checks.precision_check --cpu     # smoke test of this script on the CPU (tiny model, bf16)

One line per case: method, precision asked -> resolved, dtypes of frozen / trainable parameters, measured
peak (torch.cuda.max_memory_allocated), planned peak (allocated, without the CUDA context), their ratio.
Written for issue #12; not run in the session that wrote it (no GPU there): run it when a GPU is lent.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

METHODS = ("lora", "qlora", "ptuning", "prefix", "prompt", "ia3", "adapter", "freeze", "full")


def _planned_bytes(model: str, method: str, hp: Any, gpu_name: str) -> int | None:
    from app.planner import GPUS, plan, request_from_hyperparameters
    from app.plans.devices import StudioDevices, default_plan_target

    card = default_plan_target(StudioDevices(1, 1, (gpu_name,)), list(GPUS))
    try:
        req, _ = request_from_hyperparameters(model, hp, method=method, gpu=card)
        result = plan(req, with_recommendations=False)
    except (ValueError, FileNotFoundError):
        return None
    breakdown = result.per_gpu.breakdown
    return int(result.per_gpu.peak_bytes - breakdown.get("CUDA context", 0))


def run_case(model_path: str, method: str, precision: str, args: argparse.Namespace) -> dict[str, Any]:
    import torch
    from transformers import AutoModelForCausalLM

    from app.jobs.hyperparameters import TrainHyperparameters
    from worker.training.methods import get_method
    from worker.training.precision import resolve

    cuda = torch.cuda.is_available()
    resolved, _why = resolve(precision, Path(tempfile.gettempdir()))
    hp = TrainHyperparameters(
        precision=resolved, max_seq_length=args.seq_len, per_device_train_batch_size=args.batch,
        lora_target_modules="all-linear", num_virtual_tokens=8,
    )  # fmt: skip
    module = get_method(method)
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    model = AutoModelForCausalLM.from_pretrained(model_path, **module.load_kwargs(hp))
    if cuda and method != "qlora":
        model = model.cuda()
    model.config.use_cache = False
    model = module.prepare(model, hp, method_id=method)
    frozen = sorted({str(p.dtype) for p in model.parameters() if not p.requires_grad})
    trainable = sorted({str(p.dtype) for p in model.parameters() if p.requires_grad})
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4)
    device = "cuda" if cuda else "cpu"
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "pure_bf16": torch.bfloat16}.get(resolved)
    scaler = torch.amp.GradScaler(device, enabled=resolved == "fp16")
    ids = torch.randint(0, model.config.vocab_size, (args.batch, args.seq_len), device=device)
    losses = []
    for _ in range(args.steps):
        with torch.autocast(device, dtype=dtype or torch.float32, enabled=dtype is not None):
            loss = model(input_ids=ids, labels=ids).loss
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss))
    measured = int(torch.cuda.max_memory_allocated()) if cuda else None
    gpu_name = torch.cuda.get_device_name() if cuda else "cpu"
    planned = _planned_bytes(model_path, method, hp, gpu_name) if cuda else None
    # qlora's non-linear frozen weights go fp32 through prepare_model_for_kbit_training: not checked.
    sixteen_bit_base = all(d != "torch.float32" for d in frozen) or method == "qlora"
    ok_dtypes = trainable == ["torch.float32"] and (
        method == "full" or resolved == "fp32" or sixteen_bit_base
    )
    del model, optimizer
    return {
        "method": method, "precision": precision, "resolved": resolved, "frozen": frozen,
        "trainable": trainable, "dtypes_ok": ok_dtypes, "measured_bytes": measured, "planned_bytes": planned,
        "ratio": round(measured / planned, 3) if measured and planned else None,
        "first_loss": losses[0], "last_loss": losses[-1],
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="a model folder (default: a tiny random Llama)")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--seq-len", type=int, default=512)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--cpu", action="store_true", help="smoke test: lora + full at bf16 on the CPU")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    model = args.model
    if model is None:
        from worker.training.tiny_model import build_tiny_model

        model = str(build_tiny_model(Path(tempfile.mkdtemp()) / "tiny", arch="llama"))
    if args.cpu:
        args.seq_len, args.batch, args.steps = 32, 2, 2
        cases = [("lora", "bf16"), ("full", "bf16")]
    else:
        cases = [(m, p) for p in ("auto", "bf16", "fp16") for m in METHODS]
    rows = []
    for method, precision in cases:
        try:
            row = run_case(model, method, precision, args)
        except Exception as exc:  # one failing case must not hide the others
            row = {"method": method, "precision": precision, "error": f"{type(exc).__name__}: {exc}"}
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return 0 if all(r.get("dtypes_ok") for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
