"""The dataset analysis child: `python -m worker.datasets.analyse --config RUN_DIR/config.json`.

Heavy work that does not belong in a web request: near-duplicates over the whole version, train/validation
overlap, token lengths with the chosen base model's tokenizer and chat template, and the loss-token preview
of the rows the user asked about. Follows the child contract of docs/CONTRACTS.md: metrics.jsonl events
(start / progress / end), error.json + exit 2 for a user error, SIGTERM -> stop, end "cancelled", exit 0.
Writes only inside RUN_DIR (analysis.json); the supervisor's success hook stores it in the database.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path
from typing import Any

from worker.training.events import EventWriter, write_error

EXIT_OK, EXIT_USER_ERROR = 0, 2
RESULT_FILE = "analysis.json"
DEFAULT_PREVIEW_ROWS = 3  # rows previewed when the user named none: the first training rows
MAX_IDS = 10_000  # duplicate id lists kept in the report; counts are always complete


class AnalysisError(ValueError):
    """Bad input the user can fix (exit code 2, error.json)."""


class Cancelled(Exception):
    pass


class Progress:
    """Maps each phase's progress(done, total) onto one step counter for the job's progress bar."""

    def __init__(self, writer: EventWriter, total: int, stop: dict[str, bool]) -> None:
        self.writer, self.total, self.stop, self.offset = writer, max(1, total), stop, 0

    def phase(self, size: int) -> Any:
        offset = self.offset
        self.offset += size

        def report(done: int, _total: int) -> None:
            if self.stop["requested"]:
                raise Cancelled
            self.writer.write("progress", step=min(self.total, offset + done), total_steps=self.total)

        return report


def _read_jsonl(path: str | None) -> list[dict]:
    if not path:
        return []
    file = Path(path)
    if not file.is_file():
        raise AnalysisError(f"the dataset file {file.name} is missing: was the dataset deleted?")
    with file.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _read_config(path: Path) -> dict[str, Any]:
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AnalysisError(f"cannot read the job configuration {path}: {exc}") from None
    for key in ("dataset", "base_model", "max_seq_length"):
        if key not in config:
            raise AnalysisError(f"the job configuration has no '{key}'")
    if int(config["max_seq_length"]) < 2:
        raise AnalysisError("max_seq_length must be at least 2")
    return config


def _cap(duplicates: dict) -> dict:
    return {k: (v[:MAX_IDS] if isinstance(v, list) and k != "examples" else v) for k, v in duplicates.items()}


def analyse(config: dict[str, Any], writer: EventWriter, stop: dict[str, bool]) -> dict[str, Any]:
    from app.datasets.ingest import conversation_stats, find_duplicates, train_val_overlap

    dataset = config["dataset"]
    train, val = _read_jsonl(dataset["train_path"]), _read_jsonl(dataset.get("val_path"))
    rows = _read_jsonl(dataset.get("rows_path")) if dataset.get("rows_path") else train + val
    if not rows:
        raise AnalysisError("the dataset version has no rows")
    by_id = {str(r["id"]): r for r in rows}
    wanted = [str(i) for i in config.get("preview_row_ids") or []]
    missing = [i for i in wanted if i not in by_id]
    if missing:
        raise AnalysisError(f"rows asked for a preview are not in this version: {', '.join(missing[:10])}")
    preview_ids = wanted or [str(r["id"]) for r in (train or rows)[:DEFAULT_PREVIEW_ROWS]]
    threshold = float(config.get("near_dup_threshold", 0.8))
    progress = Progress(writer, 2 * len(rows) + len(train) + len(val) + len(preview_ids), stop)
    writer.write("start", total_steps=progress.total, num_rows=len(rows))
    result: dict[str, Any] = {"version_id": dataset.get("version_id"), "model_id": config.get("model_id")}
    result["stats"] = conversation_stats(rows)
    result["duplicates"] = _cap(
        find_duplicates(rows, near_threshold=threshold, progress=progress.phase(len(rows)))
    )
    overlap = progress.phase(len(train) + len(val))
    no_val = {"exact": 0, "near": 0, "threshold": threshold, "val_rows": [], "val_ids": [], "examples": []}
    result["overlap"] = (
        _cap(train_val_overlap(train, val, near_threshold=threshold, progress=overlap)) if val else no_val
    )

    from worker.datasets.token_stats import render_loss_preview, token_length_stats
    from worker.training.chat_data import DataError
    from worker.training.config import ConfigError

    base = config["base_model"]
    common = {"max_seq_length": int(config["max_seq_length"]),
              "trust_remote_code": bool(base.get("trust_remote_code"))}  # fmt: skip
    try:
        result["tokens"] = token_length_stats(
            rows, base["path"], bins=int(config.get("bins", 20)), progress=progress.phase(len(rows)), **common
        )
        step = progress.phase(len(preview_ids))
        previews = {}
        for k, row_id in enumerate(preview_ids, start=1):
            previews[row_id] = render_loss_preview(by_id[row_id], base["path"], **common)
            step(k, len(preview_ids))
    except (ConfigError, DataError) as exc:
        raise AnalysisError(str(exc)) from None
    result["previews"] = previews
    result["max_seq_length"] = common["max_seq_length"]
    writer.write("progress", step=progress.total, total_steps=progress.total)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="FT Studio dataset analysis (a job's child process).")
    parser.add_argument("--config", required=True, type=Path)
    args = parser.parse_args(argv)
    run_dir = args.config.resolve().parent
    stop = {"requested": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(requested=True))
    writer = EventWriter(run_dir)
    try:
        config = _read_config(args.config)
        result = analyse(config, writer, stop)
    except AnalysisError as exc:
        write_error(run_dir, str(exc))
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except Cancelled:
        writer.write("end", status="cancelled")
        return EXIT_OK
    out = run_dir / RESULT_FILE
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")
    tmp.replace(out)
    writer.write("end", status="succeeded")
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
