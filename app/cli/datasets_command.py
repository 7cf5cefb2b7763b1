"""`ftstudio datasets ...`: upload, list and inspect datasets through the REST API."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from app.cli.api_client import ApiClient
from app.cli.api_commands import ApiUrl, AsJson, _print_table

datasets_cli = typer.Typer(help="Datasets.", no_args_is_help=True)


@datasets_cli.command("upload")
def datasets_upload(
    file: Path,
    name: str | None = None,
    val_set_size: int | None = None,
    on_invalid: str = "drop",
    api_url: ApiUrl = None,
    as_json: AsJson = False,
) -> None:
    data = {
        k: v for k, v in {"name": name, "val_set_size": val_set_size, "on_invalid": on_invalid}.items() if v
    }
    with file.open("rb") as handle:
        result = ApiClient(api_url).request(
            "POST", "/datasets", files={"file": (file.name, handle)}, data=data
        )
    typer.echo(
        json.dumps(result, ensure_ascii=False, indent=2)
        if as_json
        else f"dataset {result['id']}: {result['num_rows']} rows, format {result['format']}"
    )


@datasets_cli.command("list")
def datasets_list(api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    rows = ApiClient(api_url).request("GET", "/datasets")
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        _print_table(rows, ["id", "name", "version", "format", "num_rows", "num_invalid"])


def register(cli: typer.Typer) -> None:
    cli.add_typer(datasets_cli, name="datasets")
