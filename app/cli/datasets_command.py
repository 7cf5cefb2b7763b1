"""`ftstudio datasets ...`: upload, inspect, review (drop / re-split), analyse, archive datasets through
the REST API. Every command takes --json for scripts."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from app.cli.api_client import ApiClient
from app.cli.api_commands import ApiUrl, AsJson, _print_table

datasets_cli = typer.Typer(help="Datasets: upload, review, analyse.", no_args_is_help=True)
Version = Annotated[int | None, typer.Option("--version", help="Default: the latest version.")]


def _echo(value: Any, as_json: bool, text: str) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2) if as_json else text)


@datasets_cli.command("upload")
def datasets_upload(
    file: Path,
    name: str | None = None,
    format: Annotated[
        str | None, typer.Option(help="alpaca|sharegpt|messages|xtuner|prompt_response")
    ] = None,
    mapping: Annotated[
        str | None, typer.Option(help='JSON, e.g. {"prompt": "问题", "response": "回答"}')
    ] = None,
    on_invalid: Annotated[str, typer.Option(help="drop bad rows, or reject the file")] = "drop",
    dedup: Annotated[str, typer.Option(help="report|drop_exact|drop_all")] = "report",
    near_dup_threshold: float | None = None,
    max_chars: int | None = None,
    val_set_size: int | None = None,
    val_set_rate: float | None = None,
    seed: int | None = None,
    api_url: ApiUrl = None,
    as_json: AsJson = False,
) -> None:
    fields = {"name": name, "format": format, "mapping": mapping, "on_invalid": on_invalid, "dedup": dedup,
              "near_dup_threshold": near_dup_threshold, "max_chars": max_chars, "val_set_size": val_set_size,
              "val_set_rate": val_set_rate, "seed": seed}  # fmt: skip
    data = {k: str(v) for k, v in fields.items() if v is not None}
    with file.open("rb") as handle:
        result = ApiClient(api_url).request(
            "POST", "/datasets", files={"file": (file.name, handle)}, data=data
        )
    dup = result["duplicates"]
    _echo(result, as_json, f"dataset {result['id']} v{result['version']}: {result['num_rows']} rows, format "
          f"{result['format']}, encoding {result['encoding']}, {result['num_invalid']} invalid, duplicates "
          f"{dup['exact']} exact / {dup['near']} near")  # fmt: skip


@datasets_cli.command("list")
def datasets_list(api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    rows = ApiClient(api_url).request("GET", "/datasets")
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        _print_table(
            rows, ["id", "name", "version", "status", "archived", "format", "num_rows", "num_invalid"]
        )


@datasets_cli.command("show")
def datasets_show(dataset_id: int, api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    d = ApiClient(api_url).request("GET", f"/datasets/{dataset_id}")
    archived = " archived" if d["archived"] else ""
    lines = [f"{d['name']} (id {d['id']}) v{d['version']} {d['status']}{archived}",
             f"format {d['format']}, encoding {d['encoding']}, {d['num_rows']} rows "
             f"({d['num_train']} train / {d['num_val']} val), {d['num_invalid']} invalid",
             f"duplicates: {d['duplicates']['exact']} exact, {d['duplicates']['near']} near"]  # fmt: skip
    lines += [f"  row {p['row']} {p['field']}: {p['reason']}" for p in d["problems"][:20]]
    result = (d.get("analysis") or {}).get("result") or {}
    if tokens := result.get("tokens"):
        lengths = tokens["lengths"]
        over = f"{tokens['num_over_max']} rows over {tokens['max_seq_length']}"
        lines.append(f"tokens ({result.get('model_id')}): mean {lengths['mean']}, p95 {lengths['p95']}, "
                     f"max {lengths['max']}; {over}")  # fmt: skip
    _echo(d, as_json, "\n".join(lines))


@datasets_cli.command("versions")
def datasets_versions(dataset_id: int, api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    rows = ApiClient(api_url).request("GET", f"/datasets/{dataset_id}/versions")
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        for r in rows:
            r["hash"] = r["content_hash"][:12]
        _print_table(
            rows, ["version", "hash", "parent_version_id", "num_rows", "num_train", "num_val", "note"]
        )


@datasets_cli.command("rows")
def datasets_rows(
    dataset_id: int,
    version: Version = None,
    split: str = "train",
    q: str | None = None,
    page: int = 1,
    page_size: int = 20,
    api_url: ApiUrl = None,
    as_json: AsJson = False,
) -> None:
    params = {"split": split, "page": page, "page_size": page_size, "q": q, "version": version}
    result = ApiClient(api_url).request(
        "GET", f"/datasets/{dataset_id}/rows", params={k: v for k, v in params.items() if v is not None}
    )
    text = [f"page {result['page']}/{result['pages']} ({result['total']} rows)"]
    for row in result["rows"]:
        first = next((m["content"] for m in row["messages"] if m["role"] == "user"), "")
        text.append(f"{row['id']}{' [flagged]' if row['flagged'] else ''}: {first[:80]}")
    _echo(result, as_json, "\n".join(text))


@datasets_cli.command("drop")
def datasets_drop(
    dataset_id: int,
    row_ids: Annotated[list[str] | None, typer.Argument(help="Ids of the rows to drop.")] = None,
    base_version: Version = None,
    duplicates: Annotated[
        str | None, typer.Option(help="Also drop the report's exact|near|all duplicates")
    ] = None,
    flagged: Annotated[bool, typer.Option(help="Also drop the rows flagged in review.")] = False,
    note: str | None = None,
    val_set_size: int | None = None,
    val_set_rate: float | None = None,
    seed: int | None = None,
    api_url: ApiUrl = None,
    as_json: AsJson = False,
) -> None:
    """Make a new version without some rows (and/or with a new split). The base version stays as it was."""
    client = ApiClient(api_url)
    ids = list(row_ids or [])
    if duplicates or flagged:
        d = client.request("GET", f"/datasets/{dataset_id}")
        kinds = {"exact": ["exact_ids"], "near": ["near_ids"], "all": ["exact_ids", "near_ids"]}
        if duplicates and duplicates not in kinds:
            raise typer.BadParameter("--duplicates must be exact, near or all")
        for key in kinds.get(duplicates or "", []):
            ids += [str(i) for i in d["duplicates"][key]]
        ids += d["flagged"] if flagged else []
    body = {"base_version": base_version, "drop_row_ids": sorted(set(ids)), "note": note,
            "val_set_size": val_set_size, "val_set_rate": val_set_rate, "seed": seed}  # fmt: skip
    version = client.request("POST", f"/datasets/{dataset_id}/versions", json=body)
    _echo(version, as_json, f"dataset {dataset_id} v{version['version']}: {version['num_rows']} rows, "
          f"hash {version['content_hash'][:12]}")  # fmt: skip


@datasets_cli.command("analyse")
def datasets_analyse(
    dataset_id: int,
    model: Annotated[str, typer.Option(help="A base model id from the catalog (its tokenizer).")],
    version: Version = None,
    max_seq_length: int = 1024,
    near_dup_threshold: float = 0.8,
    preview_row: Annotated[list[str] | None, typer.Option(help="Rows to render with loss marks.")] = None,
    watch: bool = False,
    api_url: ApiUrl = None,
    as_json: AsJson = False,
) -> None:
    """Token lengths, near-duplicates and train/val overlap, as a job on the worker."""
    client = ApiClient(api_url)
    body = {"model": model, "version": version, "max_seq_length": max_seq_length,
            "near_dup_threshold": near_dup_threshold, "preview_row_ids": preview_row or []}  # fmt: skip
    job = client.request("POST", f"/datasets/{dataset_id}/analyse", json=body)
    while watch and job["status"] in ("queued", "running"):
        time.sleep(1.0)
        job = client.request("GET", f"/jobs/{job['id']}")
        if not as_json:
            typer.echo(f"job {job['id']} {job['status']} {job['progress'].get('percent') or 0:.0f} %")
    _echo(
        job,
        as_json,
        f"analysis job {job['id']} {job['status']}" + (f": {job['error']}" if job.get("error") else ""),
    )
    if watch and job["status"] != "succeeded":
        raise typer.Exit(code=1)


@datasets_cli.command("tokens")
def datasets_tokens(
    dataset_id: int, row_id: str, model: str, version: Version = None, api_url: ApiUrl = None,
    as_json: AsJson = False,
) -> None:  # fmt: skip
    """Which tokens of a row carry loss (printed in square brackets) under the model's chat template."""
    params = {"model": model, **({"version": version} if version else {})}
    result = ApiClient(api_url).request("GET", f"/datasets/{dataset_id}/rows/{row_id}/tokens", params=params)
    text = "".join(f"[{p['text']}]" if p["carries_loss"] else p["text"] for p in result["pieces"])
    _echo(
        result, as_json, f"{text}\n({result['num_loss_tokens']} of {result['num_tokens']} tokens carry loss)"
    )


@datasets_cli.command("archive")
def datasets_archive(
    dataset_id: int, undo: bool = False, api_url: ApiUrl = None, as_json: AsJson = False
) -> None:
    d = ApiClient(api_url).request("POST", f"/datasets/{dataset_id}/{'unarchive' if undo else 'archive'}")
    _echo(d, as_json, f"dataset {dataset_id} {'archived' if d['archived'] else 'active'}")


@datasets_cli.command("delete")
def datasets_delete(dataset_id: int, api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """Only for datasets no job used; archive those instead."""
    ApiClient(api_url).request("DELETE", f"/datasets/{dataset_id}")
    _echo({"deleted": dataset_id}, as_json, f"dataset {dataset_id} deleted")


def register(cli: typer.Typer) -> None:
    cli.add_typer(datasets_cli, name="datasets")


from app.cli.synthesize_command import synthesize  # noqa: E402  (issue 13: its own module)

datasets_cli.command("synthesize")(synthesize)
