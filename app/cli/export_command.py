"""`ftstudio export JOB_ID` and `ftstudio resume JOB_ID`: the job page's Export and Resume buttons, through
the same REST API (POST /api/v1/jobs/{id}/export, POST /api/v1/jobs/{id}/resume)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from app.cli.api_client import ApiClient
from app.cli.api_commands import ApiUrl, AsJson, jobs_watch

Watch = Annotated[
    bool, typer.Option("--watch", help="Follow the new job until it ends (exit 1 unless it succeeds).")
]


def export_cmd(
    job_id: Annotated[int, typer.Argument(help="The train job to export.")],
    mode: Annotated[
        str | None,
        typer.Option("--mode", help="merged | adapter (default: merged when the method allows it)"),
    ] = None,
    dtype: Annotated[str, typer.Option("--dtype", help="fp32 | fp16 | bf16")] = "fp32",
    checkpoint_step: Annotated[
        int | None,
        typer.Option("--checkpoint-step", help="Default: the final model, else the newest checkpoint."),
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="Name of the exported model in the catalog.")
    ] = None,
    download: Annotated[
        Path | None, typer.Option("--download", help="With --watch: save the export's zip to this file.")
    ] = None,
    watch: Watch = False,
    api_url: ApiUrl = None,
    as_json: AsJson = False,
) -> None:
    """Export a trained job: LoRA/QLoRA/IA3 merged into the base, or the adapter alone.

    Example: ftstudio export 12 --mode merged --dtype bf16 --watch
    """
    client = ApiClient(api_url)
    body = {"mode": mode, "dtype": dtype, "checkpoint_step": checkpoint_step, "name": name}
    job = client.request("POST", f"/jobs/{job_id}/export", json=body)
    typer.echo(json.dumps(job, indent=2) if as_json else f"export job {job['id']} {job['status']}")
    if not watch:
        return
    jobs_watch(job["id"], api_url=api_url)
    done = client.request("GET", f"/exports/{job['id']}")
    if model_id := done["result"].get("model_id"):
        typer.echo(f"model {model_id} is in the catalog (ftstudio models list)")
    if download is not None:
        _download(client, job["id"], download)


def _download(client: ApiClient, export_id: int, target: Path) -> None:
    with client.http.stream("GET", f"/exports/{export_id}/download") as response:
        if response.status_code >= 400:
            response.read()
            typer.echo(f"Error {response.status_code}: {response.text}", err=True)
            raise typer.Exit(code=1)
        with target.open("wb") as handle:
            for chunk in response.iter_bytes():
                handle.write(chunk)
    typer.echo(f"saved {target} ({target.stat().st_size} bytes)")


def resume_cmd(
    job_id: Annotated[int, typer.Argument(help="The train job to continue.")],
    checkpoint_step: Annotated[
        int | None, typer.Option("--checkpoint-step", help="Default: the newest checkpoint.")
    ] = None,
    max_steps: Annotated[int | None, typer.Option("--max-steps", help="Train further than planned.")] = None,
    watch: Watch = False,
    api_url: ApiUrl = None,
    as_json: AsJson = False,
) -> None:
    """Continue a cancelled, failed, interrupted or finished train job from a checkpoint (optimizer,
    scheduler and RNG state included), as a new job."""
    body = {"checkpoint_step": checkpoint_step, "max_steps": max_steps}
    job = ApiClient(api_url).request("POST", f"/jobs/{job_id}/resume", json=body)
    typer.echo(
        json.dumps(job, indent=2) if as_json else f"job {job['id']} {job['status']} (resumes job {job_id})"
    )
    if watch:
        jobs_watch(job["id"], api_url=api_url)


def register(cli: typer.Typer) -> None:
    cli.command("export")(export_cmd)
    cli.command("resume")(resume_cmd)
