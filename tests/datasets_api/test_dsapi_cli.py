"""`ftstudio datasets ...` against a running studio (`ftstudio up` in a subprocess, real worker):
upload, list, show, versions, rows, drop, analyse --watch, tokens, archive and the delete refusal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.migrations import REPO_ROOT
from tests.spine.conftest import write_dataset
from tests.spine.embedded_server import EmbeddedStudio


def ftstudio(studio: EmbeddedStudio, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "app.cli.main", "datasets", *args, "--api-url", studio.url],
        cwd=REPO_ROOT,
        # The CLI signs in by itself with the local admin's token file in the studio's data dir.
        env={**os.environ, "FTSTUDIO_DATA_DIR": str(studio.data_dir)},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _json(done: subprocess.CompletedProcess) -> object:
    assert done.returncode == 0, done.stderr + done.stdout
    return json.loads(done.stdout)


@pytest.mark.slow
def test_datasets_cli_round_trip(embedded: EmbeddedStudio, tmp_path: Path) -> None:
    path = write_dataset(tmp_path / "cli.jsonl", repeats=2)  # 12 rows
    created = _json(
        ftstudio(embedded, "upload", str(path), "--name", "cli-set", "--val-set-size", "2", "--json")
    )
    assert created["name"] == "cli-set" and created["num_rows"] == 12 and created["num_val"] == 2
    dataset_id = str(created["id"])
    listed = _json(ftstudio(embedded, "list", "--json"))
    assert created["id"] in [d["id"] for d in listed]
    shown = _json(ftstudio(embedded, "show", dataset_id, "--json"))
    assert shown["format"] == "messages" and shown["version"] == 1
    rows = _json(ftstudio(embedded, "rows", dataset_id, "--page-size", "3", "--json"))
    assert rows["total"] == 10 and len(rows["rows"]) == 3
    drop = [r["id"] for r in rows["rows"][:2]]
    v2 = _json(ftstudio(embedded, "drop", dataset_id, *drop, "--note", "from the cli", "--json"))
    assert v2["version"] == 2 and v2["num_rows"] == 10 and v2["note"] == "from the cli"
    versions = _json(ftstudio(embedded, "versions", dataset_id, "--json"))
    assert [v["version"] for v in versions] == [1, 2] and versions[1]["parent_version_id"] == versions[0][
        "id"
    ]
    nothing = ftstudio(embedded, "drop", dataset_id)
    assert nothing.returncode == 1 and "Nothing would change" in nothing.stderr
    job = _json(ftstudio(embedded, "analyse", dataset_id, "--model", "tiny-llama", "--max-seq-length", "64",
                         "--watch", "--json"))  # fmt: skip
    assert job["status"] == "succeeded" and job["kind"] == "dataset_analysis"
    text = ftstudio(embedded, "show", dataset_id)
    assert text.returncode == 0 and "tokens (tiny-llama)" in text.stdout
    row_id = _json(ftstudio(embedded, "rows", dataset_id, "--json"))["rows"][0]["id"]
    tokens = _json(ftstudio(embedded, "tokens", dataset_id, row_id, "tiny-llama", "--json"))
    assert tokens["num_loss_tokens"] > 0 and tokens["pieces"]
    assert _json(ftstudio(embedded, "archive", dataset_id, "--json"))["archived"] is True
    assert _json(ftstudio(embedded, "archive", dataset_id, "--undo", "--json"))["archived"] is False
    deleted = ftstudio(embedded, "delete", dataset_id)  # only an analysis job read it: deletable
    assert deleted.returncode == 0, deleted.stderr
    missing = ftstudio(embedded, "show", dataset_id)
    assert missing.returncode == 1 and "does not exist" in missing.stderr
