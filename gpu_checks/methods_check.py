"""Each training method, fp16 and bf16, and ZeRO stages on one GPU: tokens/s and peak memory per case.

    python -m gpu_checks.methods_check [--model PATH] [--steps 20] [--seq-len 512] [--json out.json]
    python -m gpu_checks.methods_check --cpu          # smoke test of this script on the CPU

Every case runs the studio's own code path: method.load_kwargs -> from_pretrained -> method.prepare ->
HF Trainer with the training child's core arguments plus method.training_arguments (DeepSpeed included).
Cases run in one process, one after another; peak memory is torch.cuda.max_memory_allocated after a reset
(on the CPU: the process's peak RSS so far, so only the first case's number is its own).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

ALL_METHODS = ("lora", "qlora", "ptuning", "prefix", "prompt", "ia3", "adapter", "freeze", "full")


def _cases(cpu: bool) -> list[tuple[str, dict[str, Any]]]:
    if cpu:  # a short smoke subset: every code path kind once (PEFT, bnb, own adapter, DeepSpeed)
        return [
            ("lora", {"precision": "bf16"}),
            ("qlora", {"precision": "fp32"}),
            ("ptuning", {"precision": "fp32"}),
            ("adapter", {"precision": "bf16"}),
            ("full", {"precision": "fp32", "zero_stage": 2}),
        ]
    cases = [(m, {"precision": p}) for p in ("fp16", "bf16") for m in ALL_METHODS]
    cases += [("full", {"precision": "bf16", "zero_stage": stage}) for stage in (1, 2, 3)]
    cases += [
        ("full", {"precision": "bf16", "zero_stage": 3, "offload_optimizer": True, "offload_params": True})
    ]
    return cases


class _TokenDataset:
    """Random token sequences: throughput and memory do not depend on the text."""

    def __init__(self, vocab: int, rows: int, length: int) -> None:
        import torch

        generator = torch.Generator().manual_seed(0)
        self.ids = torch.randint(0, vocab, (rows, length), generator=generator)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, Any]:
        import torch

        row = self.ids[i]
        return {"input_ids": row, "labels": row, "attention_mask": torch.ones_like(row)}


def _peak_bytes() -> int:
    import torch

    if torch.cuda.is_available():
        return int(torch.cuda.max_memory_allocated())
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_case(
    model_path: str, method_id: str, overrides: dict[str, Any], args: argparse.Namespace
) -> dict[str, Any]:
    import torch
    from transformers import AutoModelForCausalLM, Trainer, TrainerCallback, TrainingArguments

    from app.jobs.hyperparameters import TrainHyperparameters
    from worker.training.methods import get_method
    from worker.training.sft import core_training_arguments

    hp = TrainHyperparameters(
        max_steps=args.steps,
        per_device_train_batch_size=args.batch_size,
        learning_rate=1e-4 if method_id in ("full", "freeze") else 1e-3,
        lora_target_modules="all-linear",
        logging_steps=1,
        **overrides,
    )
    method = get_method(method_id)
    run_dir = Path(tempfile.mkdtemp(prefix=f"gpucheck-{method_id}-"))
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    model = AutoModelForCausalLM.from_pretrained(model_path, **method.load_kwargs(hp))
    model.config.use_cache = False
    model = method.prepare(model, hp, method_id=method_id)
    trainer_args = core_training_arguments(hp, run_dir, has_eval=False)
    trainer_args.update(method.training_arguments(hp, run_dir))
    trainer_args["save_strategy"] = "no"

    times: list[float] = []

    class _StepTimes(TrainerCallback):
        def on_step_begin(self, *a: Any, **k: Any) -> None:
            times.append(time.perf_counter())

        def on_step_end(self, *a: Any, **k: Any) -> None:
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            times[-1] = time.perf_counter() - times[-1]

    dataset = _TokenDataset(model.config.vocab_size, args.steps * args.batch_size, args.seq_len)
    trainer = Trainer(
        model=model, args=TrainingArguments(**trainer_args), train_dataset=dataset, callbacks=[_StepTimes()]
    )
    trainer.train()
    # A ZeRO-3 TrainingArguments leaves a global DeepSpeed config behind that makes the next case's
    # from_pretrained load under zero.Init (measured: a later ZeRO-0 case then fails "Padding_idx must be
    # within num_embeddings"); each case must start clean.
    from transformers.integrations.deepspeed import unset_hf_deepspeed_config

    unset_hf_deepspeed_config()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    steady = times[1:] or times  # the first step includes kernel warm-up and lazy allocations
    tokens_per_second = args.batch_size * args.seq_len * len(steady) / sum(steady)
    return {
        "tokens_per_second": round(tokens_per_second, 1),
        "peak_memory_mb": round(_peak_bytes() / 2**20, 1),
        "first_loss": round(losses[0], 4) if losses else None,
        "last_loss": round(losses[-1], 4) if losses else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model folder (safetensors); default: a locally built random Llama")
    parser.add_argument("--cpu", action="store_true", help="smoke test on the CPU (short subset, fp32/bf16)")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--seq-len", type=int, default=None)
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)

    import torch

    if not args.cpu and not torch.cuda.is_available():
        print("no CUDA GPU here: run with --cpu for the smoke test", file=sys.stderr)
        return 2
    args.steps = args.steps or (4 if args.cpu else 20)
    args.batch_size = args.batch_size or (2 if args.cpu else 8)
    args.seq_len = args.seq_len or (64 if args.cpu else 512)
    # One process, but DeepSpeed wants the launcher's variables (else it probes MPI: STACK-NOTES).
    for key, value in {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1"}.items():
        os.environ.setdefault(key, value)
    os.environ.setdefault("MASTER_PORT", str(29500 + os.getpid() % 1000))

    model_path = args.model
    if model_path is None:
        from worker.training.tiny_model import build_tiny_model

        hidden, layers = (128, 2) if args.cpu else (768, 12)  # ~100M parameters on a GPU
        model_path = str(
            build_tiny_model(
                Path(tempfile.mkdtemp(prefix="gpucheck-model-")), hidden_size=hidden, num_layers=layers
            )
        )

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    print(
        f"device: {device}; model: {model_path}; "
        f"steps {args.steps}, batch {args.batch_size}, seq {args.seq_len}"
    )
    print(f"{'method':<8} {'precision':<9} {'zero':<10} {'status':<6} {'tok/s':>10} {'peak MB':>10}  loss")
    rows = []
    for method_id, overrides in _cases(args.cpu):
        zero = str(overrides.get("zero_stage", "-")) + ("+off" if overrides.get("offload_params") else "")
        row: dict[str, Any] = {"method": method_id, **overrides}
        try:
            row.update(run_case(model_path, method_id, overrides, args), status="ok")
            print(
                f"{method_id:<8} {overrides['precision']:<9} {zero:<10} {'ok':<6} "
                f"{row['tokens_per_second']:>10.1f} {row['peak_memory_mb']:>10.1f}  "
                f"{row['first_loss']} -> {row['last_loss']}",
                flush=True,
            )
        except Exception as exc:  # a check script reports every case, it does not stop at the first failure
            row.update(status="failed", error=f"{type(exc).__name__}: {exc}"[:500])
            print(
                f"{method_id:<8} {overrides['precision']:<9} {zero:<10} FAILED {row['error'][:200]}",
                flush=True,
            )
            traceback.print_exc(limit=3)
        rows.append(row)
    if args.json:
        args.json.write_text(json.dumps({"device": device, "rows": rows}, indent=2))
    return 0 if all(r["status"] == "ok" for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
