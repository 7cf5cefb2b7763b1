"""The bare side of benchmarks/methods.py: what a user writes by hand with transformers + peft for each
method (no studio code in the model or the loop), run in its own process so its peak RSS is its own.

    python benchmarks/methods_bare.py METHOD MODEL DATA STEPS BATCH SEQ     # prints one JSON line

The adapter baseline wraps the MLP in a plain module (the studio uses a forward hook); freeze and full
baselines set requires_grad by hand. The optimizer is the job default (methods.py: same on both sides).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# benchmarks/datasets.py would pass for the `datasets` package (transformers' is_datasets_available() finds
# it and the Trainer crashes): drop this folder from the path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(REPO))

# What both sides train with: methods.py passes these to the studio child as hyperparameters, the bare
# script below writes the same values into its peft configs and TrainingArguments.
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
        target_modules=s["lora_target_modules"],
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


def train_bare(method: str, model_path: str, data: Path, steps: int, batch: int, seq: int) -> dict[str, Any]:
    """Train ``steps`` steps bare; steady tokens/s over the window methods.studio_run reads, peak RSS."""
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


def main(argv: list[str]) -> int:
    method, model, data, steps, batch, seq = argv
    print(json.dumps(train_bare(method, model, Path(data), int(steps), int(batch), int(seq))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
