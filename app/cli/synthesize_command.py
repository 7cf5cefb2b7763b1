"""`ftstudio datasets synthesize`: generate a dataset through an OpenAI-compatible endpoint and wait for it.

With --server URL it goes through the REST API of a running studio (its workers run the job); with
--data-dir DIR (or neither: the default data dir) it works on that embedded studio directly: the job is
created in its database and run right here by the same supervisor a worker uses. Either way it prints
{"job_id", "dataset_id", "version", "num_rows", "num_unparsed"} with --json."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer

FINAL = ("succeeded", "failed", "cancelled", "interrupted")


def _outcome(job: dict[str, Any]) -> dict[str, Any]:
    result = job.get("result") or {}
    out = {"job_id": job["id"], "dataset_id": result.get("dataset_id"), "version": result.get("version"),
           "num_rows": result.get("num_rows", 0), "num_unparsed": result.get("num_unparsed", 0)}  # fmt: skip
    if job["status"] != "succeeded":
        out.update(status=job["status"], error=job.get("error"))
    return out


def _via_server(server: str, body: dict[str, Any], quiet: bool) -> dict[str, Any]:
    from app.cli.api_client import ApiClient

    client = ApiClient(server)
    job = client.request("POST", "/datasets/synthesize", json=body)
    while job["status"] not in FINAL:
        time.sleep(1.0)
        job = client.request("GET", f"/jobs/{job['id']}")
        if not quiet:
            typer.echo(
                f"job {job['id']} {job['status']}: {job['progress'].get('step') or 0}/{body['rows']} rows"
            )
    return job


def _embedded(data_dir: Path | None, body: dict[str, Any]) -> dict[str, Any]:
    from pydantic import ValidationError

    from app.cli.runtime import apply_flags, migrate
    from app.db import session_scope
    from app.deps import Principal
    from app.errors import StudioError
    from app.jobs.progress import build_job_read
    from app.jobs.repository import JobRepository
    from app.settings import reset_settings_cache
    from app.synthesis.schemas import SynthesizeRequest
    from app.synthesis.service import SynthesisService

    settings = apply_flags(data_dir=data_dir)
    # A private queue no worker listens to: this process runs the job, nobody else takes it. Known only
    # to this process (jobs name known queues since the hardening merge).
    private = f"cli-{uuid.uuid4().hex[:8]}"
    os.environ["FTSTUDIO_QUEUES"] = json.dumps([*settings.queues, private])
    reset_settings_cache()
    migrate()
    try:
        request = SynthesizeRequest(**body)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise typer.BadParameter(f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from None
    with session_scope() as session:
        from app.users.service import UserService

        service = SynthesisService(session)
        admin = UserService(session).local_admin()  # whoever holds the data dir acts as its local admin
        principal = Principal(user_id=admin.id, role=admin.role, name=admin.name)
        try:
            job = service.create(principal, request, queue=private)
        except StudioError as exc:
            raise typer.BadParameter(exc.message) from None
        job_id = job.id
    from worker.supervisor import run_job

    run_job(job_id, worker_id=None)
    with session_scope() as session:
        return build_job_read(JobRepository(session).get(job_id)).model_dump(mode="json")


def synthesize(
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="OpenAI-compatible endpoint, e.g. https://host/v1")
    ] = None,
    model: Annotated[str | None, typer.Option("--model", help="The model name the endpoint knows.")] = None,
    deployment: Annotated[
        int | None,
        typer.Option("--deployment", help="One of the studio's own ready deployments (instead of a URL)."),
    ] = None,
    topics: Annotated[str, typer.Option("--topics", help='Seed topics, comma-separated: "sleep,exams"')] = "",
    rows: Annotated[int, typer.Option("--rows", help="Target number of conversations.")] = 20,
    name: Annotated[str | None, typer.Option("--name", help="Name of the new dataset.")] = None,
    api_key: Annotated[
        str | None, typer.Option("--api-key", envvar="FTSTUDIO_SYNTH_API_KEY", help="Stored encrypted.")
    ] = None,
    template_id: Annotated[int | None, typer.Option("--template-id", help="A saved template.")] = None,
    seed_dataset: Annotated[
        int | None, typer.Option("--seed-dataset", help="Vary rows of a dataset.")
    ] = None,
    turns: int = 1,
    temperature: float = 0.8,
    rate_limit: Annotated[float | None, typer.Option("--rate-limit", help="Requests per minute.")] = 60.0,
    price: Annotated[float | None, typer.Option("--price", help="Price per 1k tokens.")] = None,
    backoff_base: Annotated[
        float, typer.Option("--backoff-base", help="Seconds before the first retry.")
    ] = 1.0,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="An embedded studio's data dir.")
    ] = None,
    server: Annotated[
        str | None, typer.Option("--server", "--api-url", help="A running studio's URL.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Generate conversations through an OpenAI-compatible endpoint; they land as a new dataset version
    after the upload's quality gate (validation, duplicates, review, split). Waits for the job."""
    if data_dir is not None and server is not None:
        raise typer.BadParameter("give --data-dir or --server, not both")
    if (deployment is None) == (base_url is None):
        raise typer.BadParameter("give --base-url (with --model) or --deployment, one of them")
    body: dict[str, Any] = {
        "base_url": base_url, "api_key": api_key, "model": model, "name": name, "rows": rows,
        "topics": [t for t in topics.split(",") if t.strip()], "template_id": template_id,
        "seed_dataset_id": seed_dataset, "turns": turns, "temperature": temperature,
        "rate_limit_per_minute": rate_limit, "price_per_1k_tokens": price, "backoff_base": backoff_base,
        "deployment_id": deployment,
    }  # fmt: skip
    body = {k: v for k, v in body.items() if v is not None}
    job = _via_server(server, body, as_json) if server else _embedded(data_dir, body)
    out = _outcome(job)
    if as_json:
        typer.echo(json.dumps(out, ensure_ascii=False))
    else:
        where = f"dataset {out['dataset_id']} v{out['version']}" if out["dataset_id"] else "no dataset"
        error = f"; {job['error']}" if job.get("error") else ""
        typer.echo(f"job {out['job_id']} {job['status']}: {out['num_rows']} rows in {where}, "
                   f"{out['num_unparsed']} unparsed answers{error}")  # fmt: skip
    if job["status"] != "succeeded":
        raise typer.Exit(code=1)
