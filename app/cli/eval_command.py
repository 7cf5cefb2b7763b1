"""`ftstudio eval ...`: score BLEU/ROUGE and MMCU from the command line, with or without a model.

Nothing here imports torch at module level: `worker.evaluation` is imported inside the commands, and only
`eval mmcu --model` loads torch at all.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

eval_cli = typer.Typer(
    help="Evaluate: BLEU/ROUGE of predictions, MMCU-style multiple choice.", no_args_is_help=True
)

AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def _fail(exc: Exception) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(2)


@eval_cli.command("bleu")
def eval_bleu(
    predictions: Annotated[Path, typer.Option(help='JSONL, one {"id", "text"} a line.')],
    references: Annotated[Path, typer.Option(help='JSONL, one {"id", "text"} a line.')],
    tokenization: Annotated[str, typer.Option(help="char | jieba")] = "char",
    smoothing: Annotated[str, typer.Option(help="none | method0..method7 (nltk)")] = "method3",
    baseline: Annotated[
        Path | None, typer.Option(help="Another predictions file: adds paired bootstrap 95% intervals.")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """BLEU-1..4 (sentence-averaged and corpus) and ROUGE-1/2/L F of given predictions, without generating."""
    from worker.evaluation.cli import bleu_from_files

    try:
        result = bleu_from_files(
            predictions, references, tokenization=tokenization, smoothing=smoothing, baseline=baseline
        )
    except ValueError as exc:
        _fail(exc)
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False))
        return
    typer.echo(f"{result['n']} pairs, {tokenization} tokens, smoothing {smoothing}")
    for level in ("sentence", "corpus"):
        scores = result["bleu"][level]
        typer.echo(f"{level:<9} " + "  ".join(f"{k.upper()} {v:6.2f}" for k, v in scores.items()))
    typer.echo("ROUGE F   " + "  ".join(f"{k} {v:6.2f}" for k, v in result["rouge"].items()))
    for metric, ci in result.get("vs_baseline", {}).items():
        verdict = "a real difference" if ci["significant"] else "within noise"
        typer.echo(
            f"vs baseline {metric}: {ci['diff']:+.2f} "
            f"(95% CI {ci['low']:+.2f} .. {ci['high']:+.2f}), {verdict}"
        )


@eval_cli.command("mmcu")
def eval_mmcu(
    data: Annotated[Path, typer.Option(help="MMCU folder (test/, dev/) or a flat .csv/.jsonl file.")],
    model: Annotated[str | None, typer.Option(help="Model folder or hub id to answer with.")] = None,
    predictions: Annotated[
        Path | None, typer.Option(help='Score given answers: JSONL {"file", "sheet", "row", "answer"}.')
    ] = None,
    mode: Annotated[str, typer.Option(help="reference (MMCU protocol) | likelihood (fast)")] = "likelihood",
    shots: Annotated[int, typer.Option(help="k-shot examples from dev/.")] = 0,
    limit: Annotated[int | None, typer.Option(help="Only the first N questions.")] = None,
    batch_size: Annotated[int, typer.Option(help="Questions per forward pass.")] = 4,
    adapter: Annotated[str | None, typer.Option(help="A PEFT adapter folder on top of --model.")] = None,
    trust_remote_code: Annotated[
        bool, typer.Option(help="Run the model repo's own code (off by default).")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Multiple-choice accuracy: overall, per domain (心理/法律/医疗/教育) and per subject, with counts."""
    from worker.evaluation.cli import format_mmcu, mmcu_from_predictions, mmcu_with_model

    if (model is None) == (predictions is None):
        _fail(
            ValueError("give exactly one of --model (answer with a model) or --predictions (score answers)")
        )
    try:
        if predictions is not None:
            result = mmcu_from_predictions(predictions, data)
        else:
            result = mmcu_with_model(
                model,  # type: ignore[arg-type]
                data,
                mode=mode,
                shots=shots,
                limit=limit,
                batch_size=batch_size,
                adapter=adapter,
                trust_remote_code=trust_remote_code,
            )
    except ValueError as exc:
        _fail(exc)
    typer.echo(
        json.dumps(result, ensure_ascii=False) if as_json else format_mmcu(result, model or "predictions")
    )


def register(cli: typer.Typer) -> None:
    cli.add_typer(eval_cli, name="eval")
