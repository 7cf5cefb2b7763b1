"""A synthesis job's rows become a dataset version through the upload's quality gate.

Called after the job ends (worker/job_kinds.py: on success, and on cancel so a cancelled run keeps what it
had). The generated conversations go through `ingest_file` exactly like an uploaded JSONL file (validation,
exact and near duplicates), then against the seed rows (a copy of a seed teaches nothing new), near
duplicates are flagged for review, and the version is split. Its report records the lineage: template,
endpoint (URL only), model, seeds, tokens, cost and examples of unparsed answers."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app.datasets.ingest import IngestError, IngestOptions, content_hash, ingest_file, train_val_overlap
from app.datasets.ingest.dedup import normalise_text
from app.datasets.repository import DatasetRepository
from app.datasets.service import do_split
from app.datasets.storage import read_rows, remove_version_folder, write_version_files
from app.models import Dataset, DatasetStatus, DatasetVersion, Job
from app.settings import get_settings

GENERATED = "generated.jsonl"
UNPARSED = "unparsed.jsonl"
PROGRESS = "progress.json"
MAX_EXAMPLES = 5
MAX_LISTED = 1000


def read_jsonl(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            rows.append(json.loads(line))
            if limit is not None and len(rows) >= limit:
                break
    return rows


def read_progress(run_dir: str | Path | None) -> dict[str, Any]:
    path = Path(run_dir) / PROGRESS if run_dir else None
    if path is None or not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # replaced atomically, but a reader on another OS may race the rename: try again later


def lineage(job: Job, progress: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    config = job.config
    seeds = dict(config["seeds"])
    seeds.pop("rows_path", None)
    return {
        "job_id": job.id,
        "template": config["template"],
        "endpoint": {k: v for k, v in config["endpoint"].items() if k != "secret_id"},
        "model": config["model"],
        "seeds": seeds,
        "target_rows": config["target_rows"],
        "turns": config.get("turns", 1),
        "temperature": config.get("temperature"),
        "resumed_from_job_id": config.get("resumed_from_job_id"),
        "progress": {
            k: progress.get(k)
            for k in (
                "requests",
                "unparsed",
                "failed",
                "prompt_tokens",
                "completion_tokens",
                "cost",
                "retries",
                "json_mode",
            )
        },  # fmt: skip
        "unparsed_examples": read_jsonl(run_dir / UNPARSED, MAX_EXAMPLES),
    }


def _seed_rows(job: Job) -> list[dict[str, Any]]:
    seeds = job.config["seeds"]
    if seeds.get("kind") != "dataset":
        return []
    path = get_settings().resolved_data_dir / seeds["version_path"] / "rows.jsonl"
    return [{"id": r["id"], "messages": r["messages"]} for r in read_jsonl(path)]


def _gate(job: Job, run_dir: Path, generated: list[dict]) -> tuple[list[dict], dict[str, Any]]:
    """The upload's quality gate on the generated rows, then the overlap with the seeds."""
    config = job.config
    landing = run_dir / "landing.jsonl"
    with landing.open("w", encoding="utf-8") as handle:
        for row in generated:
            handle.write(
                json.dumps({"id": row["id"], "messages": row["messages"]}, ensure_ascii=False) + "\n"
            )
    options = IngestOptions(
        format="messages",
        dedup=config.get("dedup", "drop_exact"),
        near_dup_threshold=float(config.get("near_dup_threshold", 0.8)),
        max_chars=config.get("max_chars"),
    )
    rows, report = ingest_file(landing, original_filename=landing.name, options=options)
    data = asdict(report)
    flagged = [rows[i]["id"] for i in range(len(rows)) if rows[i]["id"] in set(report.duplicates["near_ids"])]
    seeds = _seed_rows(job)
    if seeds:
        overlap = train_val_overlap(seeds, rows, near_threshold=options.near_dup_threshold)
        keys = {_key(s) for s in seeds}
        copies = {j for j in overlap["val_rows"] if _key(rows[j]) in keys}
        near = [rows[j]["id"] for j in overlap["val_rows"] if j not in copies]
        if options.dedup != "report":
            rows = [r for j, r in enumerate(rows) if j not in copies]
        flagged += near
        data["seed_overlap"] = {
            "exact": len(copies),
            "near": len(near),
            "dropped": options.dedup != "report",
            "near_ids": near[:MAX_LISTED],
            "examples": overlap["examples"][:20],
        }
    data["review"] = {"flagged": sorted(set(flagged))[:MAX_LISTED]}
    return rows, data


def _key(row: dict) -> tuple[tuple[str, str], ...]:
    """Equal for rows the dedup's exact check calls equal (NFKC, whitespace collapsed)."""
    return tuple((m["role"], normalise_text(m["content"])) for m in row["messages"])


def _target(session: Session, job: Job, name: str) -> tuple[Dataset, list[dict], DatasetVersion | None]:
    """Where the version goes: a new dataset, or the next version of an existing one (with its rows when
    appending; a resumed job's version replaces its parent's, which already holds the same rows)."""
    target = job.config.get("dataset") or {}
    if target.get("dataset_id"):
        dataset = DatasetRepository(session).get(job.owner_id, int(target["dataset_id"]))
        if dataset is None:
            raise ValueError(f"dataset {target['dataset_id']} no longer exists")
        base = dataset.latest_version
        existing = read_rows(base) if base is not None and target.get("mode") == "append" else []
        return dataset, existing, base
    dataset = Dataset(owner_id=job.owner_id, name=name, status=DatasetStatus.READY)
    session.add(dataset)
    session.flush()
    return dataset, [], None


def land_job(session: Session, job: Job, run_dir: Path) -> None:
    """Success and cancel hook of a synthesis job. Idempotent: a retried hook finds its version."""
    if (job.result or {}).get("dataset_id"):
        return
    run_dir = Path(run_dir)
    progress = read_progress(run_dir)
    generated = read_jsonl(run_dir / GENERATED)
    summary = {"num_unparsed": int(progress.get("unparsed") or 0), "progress": progress}
    if not generated:
        job.result = {**(job.result or {}), **summary, "num_rows": 0, "dataset_id": None, "version": None}
        return
    try:
        rows, report = _gate(job, run_dir, generated)
    except IngestError as exc:
        raise ValueError(f"the generated rows did not pass validation: {exc}") from exc
    name = (job.config.get("dataset") or {}).get("name") or f"synthesis-{job.id}"
    dataset, existing, base = _target(session, job, name)
    ids = {str(r["id"]) for r in existing}
    rows = existing + [{**r, "id": f"j{job.id}-{r['id']}" if str(r["id"]) in ids else r["id"]} for r in rows]
    if not rows:
        raise ValueError("no generated row is left after validation and de-duplication")
    split = {"val_set_size": job.config.get("val_set_size"), "val_set_rate": job.config.get("val_set_rate"),
             "seed": int(job.config.get("split_seed", 42))}  # fmt: skip
    train, val = do_split(rows, split)
    number = max((v.version for v in dataset.versions), default=0) + 1
    report["synthesis"] = lineage(job, progress, run_dir)
    version = DatasetVersion(
        dataset_id=dataset.id,
        version=number,
        parent_version_id=base.id if base is not None else None,
        content_hash=content_hash(rows),
        path="",
        original_filename=f"synthesis-job-{job.id}.jsonl",
        file_type="synthesis",
        format="messages",
        encoding="utf-8",
        num_rows=len(rows),
        num_invalid=report["num_invalid"],
        num_train=len(train),
        num_val=len(val),
        split={**split, "near_dup_threshold": job.config.get("near_dup_threshold", 0.8)},
        report=report,
        note=f"synthesized by job {job.id} with {job.config['model']}"[:500],
    )
    version.path = write_version_files(dataset.id, number, rows, train, val)
    dataset.versions.append(version)
    try:
        session.flush()
    except BaseException:
        remove_version_folder(version.path)
        raise
    job.result = {**(job.result or {}), **summary, "dataset_id": dataset.id, "version": number,
                  "num_rows": len(rows), "num_generated": len(generated)}  # fmt: skip
