"""The training child: supervised fine-tuning of a causal LM, one run, read top to bottom.

    python -m worker.training.sft --config RUN_DIR/config.json

Steps: read config -> tokenizer + chat template -> conversations to examples (assistant-only labels, windows
or truncation, optional packing) -> model through the method module -> HF Trainer with our callbacks
(metrics.jsonl events, TensorBoard, graceful SIGTERM stop) -> final/ -> end event.
What it writes and its exit codes are the contract in docs/CONTRACTS.md ("The training child").
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

# Only light modules at the top: config, data and path errors must answer before torch is imported.
from app.jobs.hyperparameters import TrainHyperparameters
from worker.orphan_guard import exit_with_supervisor
from worker.quiet_logs import quiet_third_party_noise
from worker.training.chat_data import DataError, DataStats, load_rows
from worker.training.config import ConfigError, RunConfig, load_config, resolve_checkpoint
from worker.training.evaluation_callbacks import CollapseWatch, best_checkpoints_callback, quick_eval_callback
from worker.training.events import EventWriter, write_error
from worker.training.stop import StopFlag
from worker.training.templates import choose_chat_template
from worker.training.windows import build_examples, untrained_replies_warning

EXIT_OK, EXIT_USER_ERROR = 0, 2


def _model_type(config: RunConfig) -> str | None:
    """The architecture name, used only to guess a fallback chat template; None when it cannot be read."""
    from transformers import AutoConfig

    spec = config.base_model
    try:
        kwargs = {"gguf_file": spec.gguf_file} if spec.gguf_file else {}
        return AutoConfig.from_pretrained(
            spec.path, trust_remote_code=spec.trust_remote_code, **kwargs
        ).model_type
    except (OSError, ValueError):
        return None


def batching_mode(config: RunConfig) -> str:
    """How training batches are built: "flat" (padding-free, flash-attention varlen on a GPU), "packed"
    (best-fit rows with position-id restarts: exact, see collate.packing_is_exact), "grouped" (one example
    per row, batches grouped by length) where packing would not be exact for this model/method, or "rows"
    (one example per row, random order) when the user turned packing off."""
    import importlib.util

    import torch

    from worker.training.collate import packing_is_exact

    if not config.hyperparameters.packing:
        return "rows"  # the user turned packing off: one example per row, the sampler's random order
    if not packing_is_exact(_model_type(config), config.method):
        return "grouped"
    if torch.cuda.is_available() and importlib.util.find_spec("flash_attn") is not None:
        return "flat"
    return "packed"


def _setup_data(
    config: RunConfig,
    tokenizer: Any,
    conversations: list[list[dict[str, str]]],
    split: str,
    mode: str = "grouped",
) -> tuple[list[dict[str, list[int]]], DataStats]:
    from worker.training.collate import pack_examples, unpacked_rows

    hp = config.hyperparameters
    examples, stats = build_examples(
        conversations,
        tokenizer,
        hp.max_seq_length,
        split_long_dialogues=hp.split_long_dialogues,
        # Weighting is a training choice: validation scores every window once.
        opening_weight=hp.opening_weight if split == "training" else 1,
        # Validation loss stays on the replies, comparable between jobs with and without it.
        train_on_prompt=hp.train_on_prompt and split == "training",
    )
    if not examples:
        raise DataError(
            f"no {split} example is left after tokenisation: in every conversation the assistant replies "
            f"were cut away by max_seq_length={hp.max_seq_length} (or there is no assistant reply). Raise "
            "max_seq_length, turn on split_long_dialogues, or shorten the system prompt and user turns."
        )
    rows = pack_examples(examples, hp.max_seq_length) if mode == "packed" else unpacked_rows(examples)
    return rows, stats


def core_training_arguments(
    hp: TrainHyperparameters, run_dir: Path, *, has_eval: bool, method: str = "lora"
) -> dict[str, Any]:
    """TrainingArguments of the core: app/jobs/trainer_args.trainer_kwargs (the planner's mapping too) on
    this machine's device, with `auto` precision resolved here; a method's own arguments go over these."""
    import torch

    from app.jobs.trainer_args import trainer_kwargs
    from worker.training.precision import resolve

    precision, _why = resolve(hp.precision, run_dir.parent)
    try:
        args = trainer_kwargs(
            method, hp, precision=precision, cuda=torch.cuda.is_available(), has_eval=has_eval
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if "deepspeed" in args:  # the same dict, as the file the launcher and checkpoints expect
        from worker.training.deepspeed_config import write_deepspeed_config

        args["deepspeed"] = str(write_deepspeed_config(hp, run_dir))
    return {"output_dir": str(run_dir / "checkpoints"), **args}


def _count_parameters(model: Any) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())


def _tensorboard_callback(run_dir: Path) -> Any:
    from transformers.integrations import TensorBoardCallback

    callback = TensorBoardCallback()
    callback.logging_dir = str(run_dir / "tensorboard")
    return callback


def _setup_tokenizer(config: RunConfig) -> tuple[Any, str]:
    from worker.training.model_loading import load_tokenizer

    hp = config.hyperparameters
    tokenizer = load_tokenizer(config.base_model)
    guess_needed = hp.chat_template == "auto" and not getattr(tokenizer, "chat_template", None)
    try:
        template = choose_chat_template(
            tokenizer, hp.chat_template, _model_type(config) if guess_needed else None
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return tokenizer, template


def _setup_model(config: RunConfig, method: Any, *, flash: bool = False) -> Any:
    from worker.training.model_loading import load_model

    extra = {"attn_implementation": "flash_attention_2"} if flash else {}
    model = load_model(config.base_model, method, config.hyperparameters, **extra)
    try:
        return method.prepare(model, config.hyperparameters, method_id=config.method)
    except ValueError as exc:  # e.g. a target module the model does not have
        raise ConfigError(str(exc)) from None


def _cancelled_before_training(writer: EventWriter, flag: StopFlag) -> bool:
    """A cancel that came while loading: nothing trained, nothing to save; say so and stop now."""
    if flag.requested:
        from worker.training.callbacks import peak_memory_bytes

        writer.write(
            "end", status="cancelled", step=0, peak_memory_bytes=peak_memory_bytes(), output_path=None
        )
    return flag.requested


def _resolve_precision(config: RunConfig) -> str | None:
    """Replace `auto` by what this worker runs (GPU bf16 support, or the CPU probe); say why."""
    from worker.training.precision import resolve

    precision, why = resolve(config.hyperparameters.precision, config.run_path.parent)
    config.hyperparameters = config.hyperparameters.model_copy(update={"precision": precision})
    return why


def run(config: RunConfig, flag: StopFlag) -> int:
    run_dir = config.run_path
    run_dir.mkdir(parents=True, exist_ok=True)
    writer = EventWriter(run_dir, enabled=int(os.environ.get("RANK", "0")) == 0)
    precision_note = _resolve_precision(config)
    hp = config.hyperparameters
    checkpoint = resolve_checkpoint(config)
    # Read the data before the slow imports: a wrong path or a malformed row is reported in a second.
    train_conversations = load_rows(Path(config.dataset.train_path))
    eval_conversations = load_rows(Path(config.dataset.eval_path)) if config.dataset.eval_path else []

    from transformers import Trainer, TrainingArguments, set_seed

    from worker.training.callbacks import (
        FinalEvaluation,
        GracefulStop,
        LossWatch,
        MetricsEvents,
        peak_memory_bytes,
    )
    from worker.training.collate import Collator, FlatteningCollator, ListDataset
    from worker.training.methods import get_method

    set_seed(hp.seed)  # before the method wraps the model: adapter init must be reproducible for resume
    method = get_method(config.method)
    tokenizer, template = _setup_tokenizer(config)
    mode = batching_mode(config)
    train_rows, stats = _setup_data(config, tokenizer, train_conversations, "training", mode)
    eval_rows = None
    if eval_conversations:
        eval_rows = _setup_data(config, tokenizer, eval_conversations, "validation", mode)[0]
    if _cancelled_before_training(writer, flag):
        return EXIT_OK
    model = _setup_model(config, method, flash=mode == "flat")
    trainable, total = _count_parameters(model)

    collator = (FlatteningCollator if mode == "flat" else Collator)(pad_token_id=tokenizer.pad_token_id)
    start_fields = {
        "num_train_rows": stats.num_rows,
        "num_train_examples": stats.num_examples,
        "num_truncated": stats.num_truncated,
        "num_empty": stats.num_empty,
        "num_trained_tokens": stats.num_trained_tokens,
        "num_replies": stats.num_replies,
        "num_replies_trained": stats.num_replies_trained,
        "num_sequences": len(train_rows),
        "batching": mode,
        "chat_template": template,
        "trainable_params": trainable,
        "total_params": total,
        "resumed_from": os.path.relpath(checkpoint, run_dir) if checkpoint else None,
        "precision": hp.precision,
        "precision_reason": precision_note,
    }
    cut_away = untrained_replies_warning(stats, hp.max_seq_length)
    metrics = MetricsEvents(writer, collator, start_fields, warnings=[cut_away] if cut_away else [])
    callbacks = [metrics, GracefulStop(flag), _tensorboard_callback(run_dir)]
    watch = CollapseWatch(writer)
    # Always on, whatever the quick-eval setting: the loss signals on every logged step.
    callbacks.append(LossWatch(hp.collapse_action, watch))
    quick = None
    if hp.quick_eval_every_n_checkpoints > 0 and eval_conversations:
        rows = [{"messages": m} for m in eval_conversations]
        quick = quick_eval_callback(hp, tokenizer, rows, writer, watch)
        if quick is not None:
            callbacks.append(quick)
    best = best_checkpoints_callback(hp, run_dir, writer, has_eval=eval_rows is not None, quick=quick)
    if best is not None:
        callbacks.append(best)  # after quick eval: it ranks by that save's result

    arguments = core_training_arguments(hp, run_dir, has_eval=eval_rows is not None, method=config.method)
    if mode == "grouped":  # one example per row: batch similar lengths together so little is padding
        arguments["train_sampling_strategy"] = "group_by_length"
    if hp.max_train_minutes:
        from worker.training.budget import BUDGET_PLACEHOLDER_STEPS, TimeBudget

        arguments["max_steps"] = BUDGET_PLACEHOLDER_STEPS  # the budget callback sets the real count
        callbacks.insert(0, TimeBudget(hp.max_train_minutes, cap_steps=hp.max_steps, write_event=writer))
    callbacks.append(FinalEvaluation(has_eval=eval_rows is not None))  # after TimeBudget: it sets max_steps
    try:  # the method's choice wins (optim, deepspeed...); its refusals are the user's to fix
        arguments.update(method.training_arguments(hp, run_dir))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    trainer = Trainer(
        model=model,
        args=TrainingArguments(**arguments),
        train_dataset=ListDataset(train_rows),
        eval_dataset=ListDataset(eval_rows) if eval_rows is not None else None,
        data_collator=collator,
        processing_class=tokenizer,  # checkpoints then carry the tokenizer too
        callbacks=callbacks,
    )
    if _cancelled_before_training(writer, flag):
        return EXIT_OK

    output = trainer.train(resume_from_checkpoint=checkpoint)
    step = trainer.state.global_step
    end = {
        "step": step,
        # The Trainer's own loop time: what benchmarks/overhead.py compares with a bare Trainer script.
        "train_runtime": output.metrics.get("train_runtime"),
        "peak_memory_bytes": peak_memory_bytes(),
        "tokens_per_second": metrics.tokens_per_second(),
        "label_tokens": collator.label_tokens_seen,  # loss-bearing tokens (benchmarks/throughput.py)
    }
    saved = run_dir / "checkpoints" / f"checkpoint-{step}"
    checkpoint_path = os.path.relpath(saved, run_dir) if saved.is_dir() else None
    if flag.requested:
        writer.write("end", status="cancelled", output_path=checkpoint_path, **end)
        return EXIT_OK
    if watch.action:  # quick eval saw a collapse and saved + stopped: "paused" resumes from that checkpoint
        status = "paused" if watch.action == "pause" else "stopped"
        writer.write(
            "end", status=status, reason=watch.reason, said=watch.said, output_path=checkpoint_path, **end
        )
        return EXIT_OK
    trainer.save_model(
        str(run_dir / "final")
    )  # save_pretrained(safe_serialization) + tokenizer; ZeRO-3 aware
    loss = trainer.state.log_history[-1].get("train_loss") if trainer.state.log_history else None
    # Another callback may still end training before max_steps: say so.
    stopped_early = step < trainer.state.max_steps
    writer.write(
        "end", status="succeeded", output_path="final", train_loss=loss, stopped_early=stopped_early, **end
    )
    return EXIT_OK


def _close_process_group() -> None:
    """Tear down a distributed run's process group before the interpreter exits. Left to interpreter
    shutdown, gloo's threads were destroyed while still joinable: "terminate called without an active
    exception" and SIGABRT on a rank after a successful ZeRO-3 run (CI, 2026-11-30), so torchrun failed
    a run whose final/ was already saved."""
    if "torch" not in sys.modules:
        return  # the run ended before torch was imported: no process group to close
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="FT Studio training child (supervised fine-tuning).")
    parser.add_argument("--config", required=True, type=Path, help="RUN_DIR/config.json")
    args = parser.parse_args(argv)
    flag = StopFlag()
    flag.install()  # before the slow imports and loading, so an early cancel is not a crash
    quiet_third_party_noise()
    exit_with_supervisor()  # a training child never outlives its worker (worker/orphan_guard.py)
    fallback_dir = args.config.resolve().parent
    try:
        config = load_config(args.config)
        status = run(config, flag)
        _close_process_group()
        return status
    except (ConfigError, DataError) as exc:
        run_dir = fallback_dir
        try:
            run_dir = load_config(args.config).run_path
            run_dir.mkdir(parents=True, exist_ok=True)
        except (ConfigError, OSError):
            pass
        write_error(run_dir, str(exc))
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR


if __name__ == "__main__":
    raise SystemExit(main())
