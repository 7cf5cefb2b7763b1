"""`ftstudio plan`: memory / ZeRO / time estimate for one configuration (a stable interface: scripts call it).

    ftstudio plan --model ID|DIR|config.json [--method METHOD] [--hp NAME=VALUE ...] [--config job.json]
      (a job's own method and hyperparameters, planned exactly; the flags below are the same
      hyperparameters under older names and default to the job's defaults) [--lora-r N]
      [--lora-targets all-linear|q_proj,v_proj,...] [--quant-bits 4|8] [--double-quant]
      [--precision fp32|fp16|bf16|pure-bf16] [--optimizer adamw|adamw-8bit|paged-adamw-8bit] [--zero 0|1|2|3]
      [--offload-optimizer] [--offload-params] [--gpu NAME] [--num-gpus N] [--num-nodes N] [--seq-len N]
      [--micro-batch N] [--grad-accum N] [--gradient-checkpointing] [--flash-attention] [--train-tokens N]
      [--json]

With --json it prints one object: per_gpu.peak_bytes, per_gpu.breakdown (term -> bytes), cpu_bytes, fits,
estimated_seconds, recommendations (and the rest of PlanResult). Exit code 2 on bad input.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

# Hook for the CLI main: map a catalog id (a database row) to a local path or hub id; None = not a catalog id.
resolve_model: Callable[[str], str | None] | None = None

GIB = 2**30


def _resolve(model: str) -> str:
    if Path(model).expanduser().exists() or resolve_model is None:
        return model
    return resolve_model(model) or model


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=2)


def _print_human(result) -> None:  # noqa: ANN001 - PlanResult, imported lazily
    pg = result.per_gpu
    where = "CPU" if result.request.device == "cpu" else result.request.gpu
    typer.echo(
        f"{result.model_name}: {result.num_params / 1e9:.3f}B params, {result.trainable_params:,} trainable"
    )
    typer.echo(
        f"Peak per {'process' if where == 'CPU' else 'GPU'} ({pg.peak_phase}): {pg.peak_bytes / GIB:.2f} GiB"
    )
    width = max(len(k) for k in pg.breakdown)
    for term, nbytes in sorted(pg.breakdown.items(), key=lambda kv: -kv[1]):
        typer.echo(f"  {term:<{width}}  {nbytes / GIB:8.2f} GiB")
    verdict = "fits" if result.fits else "does NOT fit"
    host = result.cpu_bytes / GIB
    typer.echo(f"{verdict} on {where} ({pg.capacity_bytes / GIB:.1f} GiB); host RAM per node {host:.1f} GiB")
    typer.echo(f"~{result.seconds_per_step:.2f} s/step, {result.tokens_per_second:,.0f} tokens/s")
    if result.estimated_seconds is not None:
        typer.echo(f"Estimated training time: {result.estimated_seconds / 3600:.2f} h")
    if result.max_seq_len is not None:
        typer.echo(
            f"Longest sequence that fits: {result.max_seq_len}; largest micro-batch: {result.max_micro_batch}"
        )
    for note in result.notes:
        typer.echo(f"note: {note}")
    for rec in result.recommendations:
        typer.echo(f"#{rec.rank} {rec.reason}")


# Legacy flag -> (hyperparameter name, value mapping). Every flag is a TrainHyperparameters name under another
# spelling; unset flags take the job's own defaults, so `ftstudio plan` with no flags plans a default job.
_OPTIMIZERS = {
    "adamw": "adamw_torch_fused",
    "adamw-8bit": "adamw_8bit",
    "paged-adamw-8bit": "paged_adamw_8bit",
}
_FLAG_TO_HP: dict[str, tuple[str, Callable[[object], object]]] = {
    "lora_r": ("lora_r", lambda v: v),
    "lora_targets": ("lora_target_modules", lambda v: v),
    "quant_bits": ("quant_bits", lambda v: v),
    "double_quant": ("double_quant", lambda v: v),
    "precision": ("precision", lambda v: str(v).replace("pure-bf16", "pure_bf16")),
    "optimizer": ("optim", lambda v: _OPTIMIZERS.get(str(v), v)),
    "zero": ("zero_stage", lambda v: v),
    "offload_optimizer": ("offload_optimizer", lambda v: v),
    "offload_params": ("offload_params", lambda v: v),
    "num_gpus": ("num_processes", lambda v: v),
    "seq_len": ("max_seq_length", lambda v: v),
    "micro_batch": ("per_device_train_batch_size", lambda v: v),
    "grad_accum": ("gradient_accumulation_steps", lambda v: v),
    "gradient_checkpointing": ("gradient_checkpointing", lambda v: v),
}


def _job_hyperparameters(
    config: Path | None, hp_pairs: list[str], method: str | None, flags: dict[str, object]
) -> tuple[str, dict[str, object]]:
    """method + hyperparameters exactly as a job would carry them: --config, then --hp, then legacy flags."""
    from app.jobs.hyperparameters import job_spec_from_json, parse_assignments

    values: dict[str, object] = {}
    file_method = None
    if config is not None:
        try:
            file_method, values = job_spec_from_json(json.loads(config.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            _fail(f"--config: {exc}")
    try:
        values.update(parse_assignments(hp_pairs))
    except ValueError as exc:
        _fail(f"--hp: {exc}")
    for flag, value in flags.items():
        if value is not None:
            name, convert = _FLAG_TO_HP[flag]
            values[name] = convert(value)
    return method or file_method or "lora", values


def plan_cmd(
    model: Annotated[str, typer.Option("--model", help="catalog id, hub id, model folder or config.json")],
    method: Annotated[
        str | None, typer.Option("--method", help="default: the job's, or lora; auto as jobs resolve it")
    ] = None,
    hp: Annotated[
        list[str] | None, typer.Option("--hp", help="NAME=VALUE as in `ftstudio submit --hp`, repeatable")
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="a job (JSON): its method and hyperparameters")
    ] = None,
    lora_r: Annotated[int | None, typer.Option("--lora-r")] = None,
    lora_targets: Annotated[str | None, typer.Option("--lora-targets")] = None,
    quant_bits: Annotated[int | None, typer.Option("--quant-bits")] = None,
    double_quant: Annotated[bool | None, typer.Option("--double-quant/--no-double-quant")] = None,
    precision: Annotated[
        str | None, typer.Option("--precision", help="auto|fp32|fp16|bf16|pure-bf16")
    ] = None,
    optimizer: Annotated[str | None, typer.Option("--optimizer")] = None,
    zero: Annotated[int | None, typer.Option("--zero")] = None,
    offload_optimizer: Annotated[bool | None, typer.Option("--offload-optimizer")] = None,
    offload_params: Annotated[bool | None, typer.Option("--offload-params")] = None,
    gpu: Annotated[str, typer.Option("--gpu")] = "A100-80GB",
    gpu_memory_gib: Annotated[float | None, typer.Option("--gpu-memory-gib", help="custom card")] = None,
    gpu_tflops: Annotated[float | None, typer.Option("--gpu-tflops", help="custom card")] = None,
    num_gpus: Annotated[int | None, typer.Option("--num-gpus")] = None,
    num_nodes: Annotated[int, typer.Option("--num-nodes")] = 1,
    seq_len: Annotated[int | None, typer.Option("--seq-len")] = None,
    micro_batch: Annotated[int | None, typer.Option("--micro-batch")] = None,
    grad_accum: Annotated[int | None, typer.Option("--grad-accum")] = None,
    gradient_checkpointing: Annotated[bool | None, typer.Option("--gradient-checkpointing")] = None,
    flash_attention: Annotated[bool, typer.Option("--flash-attention")] = False,
    train_tokens: Annotated[int | None, typer.Option("--train-tokens")] = None,
    chunked_loss: Annotated[bool, typer.Option("--chunked-loss", help="chunked cross-entropy")] = False,
    device: Annotated[str, typer.Option("--device", help="gpu, or cpu for the CPU profile")] = "gpu",
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Where each GiB goes, whether it fits, which ZeRO stage / method to use, and how long it takes.

    Plans a job's own method + hyperparameters (--hp NAME=VALUE as `ftstudio submit` takes them, or
    --config job.json); the older flags are the same hyperparameters under other names."""
    from app.jobs.hyperparameters import AUTO_METHOD
    from app.planner import load_model_shape, plan, request_from_hyperparameters
    from app.planner.method_choice import choose_method_for

    flags = {
        "lora_r": lora_r, "lora_targets": lora_targets, "quant_bits": quant_bits,
        "double_quant": double_quant, "precision": precision, "optimizer": optimizer, "zero": zero,
        "offload_optimizer": offload_optimizer, "offload_params": offload_params, "num_gpus": num_gpus,
        "seq_len": seq_len, "micro_batch": micro_batch, "grad_accum": grad_accum,
        "gradient_checkpointing": gradient_checkpointing,
    }  # fmt: skip
    job_method, values = _job_hyperparameters(config, hp or [], method, flags)
    extra = {
        "gpu_memory_gib": gpu_memory_gib, "gpu_tflops": gpu_tflops, "num_nodes": num_nodes,
        "flash_attention": flash_attention, "train_tokens": train_tokens, "chunked_loss": chunked_loss,
    }  # fmt: skip
    choice_notes: list[str] = []
    try:
        if job_method == AUTO_METHOD:  # as POST /api/v1/jobs resolves it (app/planner/method_choice.py)
            source = _resolve(model)
            shape = load_model_shape(source)
            choice = choose_method_for(source, values, shape, gpu=gpu, device=device, **extra)
            job_method = choice.method
            choice_notes.append(choice.note)
        request, notes = request_from_hyperparameters(
            _resolve(model), values, method=job_method, gpu=gpu, device=device, **extra
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "options"
        message = str(first["msg"]).removeprefix("Value error, ")
        _fail(f"--{where.replace('_', '-')} ({where}): {message}")
    try:
        result = plan(request)
    except (ValueError, FileNotFoundError) as exc:
        _fail(str(exc))
    result.notes = [*choice_notes, *notes, *result.notes]
    if as_json:
        typer.echo(json.dumps(result.model_dump(mode="json")))
    else:
        _print_human(result)


def register(cli: typer.Typer, resolver: Callable[[str], str | None] | None = None) -> None:
    """Add the `plan` command to the `ftstudio` Typer app (optionally with a catalog-id resolver)."""
    global resolve_model
    if resolver is not None:
        resolve_model = resolver
    cli.command("plan")(plan_cmd)
