"""`ftstudio deploy`: serve a catalog model or a job's model behind the OpenAI-compatible API, through the
same REST API as scripts use; `ftstudio deployments list|stop|key` manage them."""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer

from app.cli.api_client import ApiClient

ApiUrl = Annotated[
    str | None, typer.Option("--api-url", help="Default: $FTSTUDIO_API_URL or http://127.0.0.1:8000")
]
deployments_cli = typer.Typer(help="Deployments (models served at /v1).", no_args_is_help=True)


def deploy(
    model: Annotated[str | None, typer.Option("--model", help="A catalog model id.")] = None,
    job: Annotated[int | None, typer.Option("--job", help="A training job id (its final model).")] = None,
    checkpoint: Annotated[str | None, typer.Option(help="With --job: e.g. checkpoint-50.")] = None,
    system_prompt: Annotated[str | None, typer.Option(help="A fixed system prompt for every chat.")] = None,
    safety_notice: Annotated[str | None, typer.Option(help="Shown on the deployment's chat page.")] = None,
    faq_dataset: Annotated[int | None, typer.Option(help="A dataset of question/answer pairs.")] = None,
    key: Annotated[bool, typer.Option(help="Create an API key once it is ready.")] = True,
    wait: Annotated[float, typer.Option(help="Seconds to wait for it to load (0: do not wait).")] = 600,
    api_url: ApiUrl = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Deploy a model: a worker loads it; prints its model name, the /v1 URL and an API key."""
    body = {
        "model_id": model,
        "job_id": job,
        "checkpoint": checkpoint,
        "system_prompt": system_prompt,
        "safety_notice": safety_notice,
        "faq_dataset_id": faq_dataset,
    }
    api = ApiClient(api_url)
    dep = api.request("POST", "/deployments", json={k: v for k, v in body.items() if v is not None})
    deadline = time.monotonic() + wait
    while dep["status"] == "loading" and time.monotonic() < deadline:
        time.sleep(1)
        dep = api.request("GET", f"/deployments/{dep['id']}")
    result = {
        "id": dep["id"],
        "status": dep["status"],
        "served_model_name": dep["served_model_name"],
        "error": dep["error"],
        "base_url": str(api.http.base_url).rstrip("/").removesuffix("/api/v1") + "/v1",
    }
    if key and dep["status"] in ("loading", "ready"):
        result["api_key"] = api.request("POST", f"/deployments/{dep['id']}/keys")["key"]
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        for name, value in result.items():
            typer.echo(f"{name:18} {value}")
    if dep["status"] == "failed":
        raise typer.Exit(code=1)


@deployments_cli.command("list")
def deployments_list(api_url: ApiUrl = None) -> None:
    for d in ApiClient(api_url).request("GET", "/deployments"):
        typer.echo(f"{d['id']:>4}  {d['status']:8}  {d['served_model_name']}  {d['requests']} requests")


@deployments_cli.command("stop")
def deployments_stop(deployment_id: int, api_url: ApiUrl = None) -> None:
    """Undeploy: the worker stops its serving process (or unloads its adapter)."""
    dep = ApiClient(api_url).request("DELETE", f"/deployments/{deployment_id}")
    typer.echo(f"deployment {dep['id']}: {dep['status']} (stop requested)")


@deployments_cli.command("key")
def deployments_key(deployment_id: int, api_url: ApiUrl = None) -> None:
    """A new API key (shown once)."""
    typer.echo(ApiClient(api_url).request("POST", f"/deployments/{deployment_id}/keys")["key"])


def register(cli: typer.Typer) -> None:
    cli.command("deploy")(deploy)
    cli.add_typer(deployments_cli, name="deployments")
