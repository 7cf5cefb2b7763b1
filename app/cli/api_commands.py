"""CLI commands for models, datasets and jobs."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from app.cli.api_client import ApiClient

ApiUrl = Annotated[
    str | None, typer.Option("--api-url", help="Default: $FTSTUDIO_API_URL or http://127.0.0.1:8000")
]
AsJson = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]

models_cli = typer.Typer(help="The model catalog.", no_args_is_help=True)
jobs_cli = typer.Typer(help="Fine-tuning and other jobs.", no_args_is_help=True)


def _print_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    widths = {c: max([len(c)] + [len(str(r.get(c, ""))) for r in rows]) for c in columns}
    typer.echo("  ".join(c.ljust(widths[c]) for c in columns))
    for row in rows:
        typer.echo("  ".join(str(row.get(c, "")).ljust(widths[c]) for c in columns))


@models_cli.command("list")
def models_list(as_json: AsJson = False, data_dir: Path | None = None) -> None:
    """Models in the catalog (read from the database, so it works without the web server)."""
    from app.catalog.schemas import ModelRead
    from app.catalog.service import CatalogService
    from app.cli.runtime import apply_flags, migrate
    from app.db import session_scope

    apply_flags(data_dir=data_dir)
    migrate()
    with session_scope() as session:
        models = [ModelRead.model_validate(m).model_dump(mode="json") for m in CatalogService(session).list()]
    if as_json:
        typer.echo(json.dumps(models, ensure_ascii=False, indent=2))
    else:
        _print_table(models, ["id", "name", "source", "architecture", "path"])


def _parse_hp(pairs: list[str]) -> dict[str, Any]:
    """The same NAME=VALUE reading as `ftstudio plan --hp` (app/jobs/hyperparameters.parse_assignments)."""
    from app.jobs.hyperparameters import parse_assignments

    try:
        return parse_assignments(pairs)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


@jobs_cli.command("submit")
def jobs_submit(
    dataset_id: Annotated[int, typer.Option("--dataset")],
    model: Annotated[str, typer.Option("--model")],
    method: str = "lora",
    hp: Annotated[list[str] | None, typer.Option("--hp", help="NAME=VALUE, repeatable")] = None,
    name: str | None = None,
    watch: bool = False,
    api_url: ApiUrl = None,
    as_json: AsJson = False,
) -> None:
    """Start a fine-tune.

    Example: ftstudio submit --dataset 1 --model smollm2-135m-instruct --hp max_steps=50
    A time budget: --hp max_train_minutes=20. `ftstudio plan --model M --method X --hp ...` with the same
    --hp plans exactly this job.
    """
    body = {
        "kind": "train",
        "dataset_id": dataset_id,
        "base_model": model,
        "method": method,
        "hyperparameters": _parse_hp(hp or []),
        "name": name,
    }
    job = ApiClient(api_url).request("POST", "/jobs", json=body)
    typer.echo(json.dumps(job, indent=2) if as_json else f"job {job['id']} {job['status']}")
    if watch:
        jobs_watch(job["id"], api_url=api_url)


@jobs_cli.command("list")
def jobs_list(api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    jobs = ApiClient(api_url).request("GET", "/jobs")
    if as_json:
        typer.echo(json.dumps(jobs, indent=2))
        return
    rows = [
        {
            **j,
            "step": f"{j['progress']['step']}/{j['progress']['total_steps'] or '?'}",
            "loss": j["progress"]["loss"],
        }
        for j in jobs
    ]
    _print_table(rows, ["id", "kind", "method", "base_model", "status", "step", "loss"])


@jobs_cli.command("watch")
def jobs_watch(job_id: int, api_url: ApiUrl = None, interval: float = 1.0) -> None:
    """A progress bar until the job ends; exits 1 if it did not succeed."""
    client = ApiClient(api_url)
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("job {task.fields[job]} {task.fields[status]}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} loss {task.fields[loss]}"),
        TimeRemainingColumn(),
    ) as bar:
        task = bar.add_task("train", total=None, job=job_id, status="", loss="–")
        while True:
            job = client.request("GET", f"/jobs/{job_id}")
            p = job["progress"]
            loss = f"{p['loss']:.4f}" if p["loss"] is not None else "–"
            bar.update(task, total=p["total_steps"], completed=p["step"], status=job["status"], loss=loss)
            if job["status"] not in ("queued", "running"):
                break
            time.sleep(interval)
    typer.echo(f"job {job_id} {job['status']}" + (f": {job['error']}" if job.get("error") else ""))
    if job["status"] != "succeeded":
        raise typer.Exit(code=1)


@jobs_cli.command("cancel")
def jobs_cancel(job_id: int, api_url: ApiUrl = None) -> None:
    job = ApiClient(api_url).request("POST", f"/jobs/{job_id}/cancel")
    typer.echo(f"job {job_id} {job['status']}" + (" (stopping…)" if job["cancel_requested"] else ""))


def register(cli: typer.Typer) -> None:
    cli.add_typer(models_cli, name="models")
    cli.add_typer(jobs_cli, name="jobs")
    # The short forms: `ftstudio submit|list|watch|cancel`.
    cli.command("submit")(jobs_submit)
    cli.command("list")(jobs_list)
    cli.command("watch")(jobs_watch)
    cli.command("cancel")(jobs_cancel)
