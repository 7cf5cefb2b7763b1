"""`ftstudio plan`: memory / ZeRO / time estimate for one configuration (a stable interface: scripts call it).

    ftstudio plan --model ID|DIR|config.json --method full|lora|qlora|ptuning|adapter|freeze [--lora-r N]
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


def plan_cmd(
    model: Annotated[str, typer.Option("--model", help="catalog id, hub id, model folder or config.json")],
    method: Annotated[str, typer.Option("--method")] = "lora",
    lora_r: Annotated[int, typer.Option("--lora-r")] = 8,
    lora_targets: Annotated[str, typer.Option("--lora-targets")] = "all-linear",
    quant_bits: Annotated[int, typer.Option("--quant-bits")] = 4,
    double_quant: Annotated[bool, typer.Option("--double-quant")] = False,
    precision: Annotated[str, typer.Option("--precision")] = "bf16",
    optimizer: Annotated[str, typer.Option("--optimizer")] = "adamw",
    zero: Annotated[int | None, typer.Option("--zero")] = None,
    offload_optimizer: Annotated[bool, typer.Option("--offload-optimizer")] = False,
    offload_params: Annotated[bool, typer.Option("--offload-params")] = False,
    gpu: Annotated[str, typer.Option("--gpu")] = "A100-80GB",
    gpu_memory_gib: Annotated[float | None, typer.Option("--gpu-memory-gib", help="custom card")] = None,
    gpu_tflops: Annotated[float | None, typer.Option("--gpu-tflops", help="custom card")] = None,
    num_gpus: Annotated[int, typer.Option("--num-gpus")] = 1,
    num_nodes: Annotated[int, typer.Option("--num-nodes")] = 1,
    seq_len: Annotated[int, typer.Option("--seq-len")] = 1024,
    micro_batch: Annotated[int, typer.Option("--micro-batch")] = 1,
    grad_accum: Annotated[int, typer.Option("--grad-accum")] = 1,
    gradient_checkpointing: Annotated[bool, typer.Option("--gradient-checkpointing")] = False,
    flash_attention: Annotated[bool, typer.Option("--flash-attention")] = False,
    train_tokens: Annotated[int | None, typer.Option("--train-tokens")] = None,
    chunked_loss: Annotated[bool, typer.Option("--chunked-loss", help="chunked cross-entropy")] = False,
    device: Annotated[str, typer.Option("--device", help="gpu, or cpu for the CPU profile")] = "gpu",
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Where each GiB goes, whether it fits, which ZeRO stage / method to use, and how long it takes."""
    from app.planner import PlanRequest, plan

    fields = {
        "model": _resolve(model), "method": method, "lora_r": lora_r, "lora_targets": lora_targets,
        "quant_bits": quant_bits, "double_quant": double_quant, "precision": precision,
        "optimizer": optimizer,
        "zero": zero, "offload_optimizer": offload_optimizer, "offload_params": offload_params, "gpu": gpu,
        "gpu_memory_gib": gpu_memory_gib, "gpu_tflops": gpu_tflops, "num_gpus": num_gpus,
        "num_nodes": num_nodes, "seq_len": seq_len, "micro_batch": micro_batch, "grad_accum": grad_accum,
        "gradient_checkpointing": gradient_checkpointing, "flash_attention": flash_attention,
        "train_tokens": train_tokens, "device": device, "chunked_loss": chunked_loss,
    }  # fmt: skip
    try:
        request = PlanRequest(**fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "options"
        _fail(f"--{where.replace('_', '-')}: {first['msg']}")
    try:
        result = plan(request)
    except (ValueError, FileNotFoundError) as exc:
        _fail(str(exc))
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
