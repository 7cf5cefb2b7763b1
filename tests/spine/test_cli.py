"""The `ftstudio` command as scripts use it, against a running embedded studio."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx

from app.demo import DEMO_DATASET_NAME
from app.migrations import REPO_ROOT
from tests.clients import auth_headers
from tests.spine.embedded_server import EmbeddedStudio


def ftstudio(
    *args: str, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "app.cli.main", *args],
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_up_loaded_the_demo_dataset_and_models_list_reads_the_catalog(embedded: EmbeddedStudio) -> None:
    datasets = httpx.get(f"{embedded.url}/api/v1/datasets", headers=auth_headers(embedded.data_dir)).json()
    assert DEMO_DATASET_NAME in [d["name"] for d in datasets]
    demo = next(d for d in datasets if d["name"] == DEMO_DATASET_NAME)
    assert demo["num_rows"] >= 300 and demo["num_val"] == 20
    done = ftstudio("models", "list", "--json", "--data-dir", str(embedded.data_dir))
    assert done.returncode == 0, done.stderr
    assert "tiny-llama" in [m["id"] for m in json.loads(done.stdout)]


def test_submit_watch_list_and_cancel_through_the_api(embedded: EmbeddedStudio) -> None:
    demo = next(
        d
        for d in httpx.get(f"{embedded.url}/api/v1/datasets", headers=auth_headers(embedded.data_dir)).json()
        if d["name"] == DEMO_DATASET_NAME
    )
    done = ftstudio(
        "submit",
        "--dataset",
        str(demo["id"]),
        "--model",
        "tiny-llama",
        "--hp",
        "max_steps=6",
        "--hp",
        "save_steps=3",
        "--hp",
        "max_seq_length=128",
        "--watch",
        "--api-url",
        embedded.url,
        # No token given: the CLI finds the local admin's token file in the studio's data dir by itself.
        env={"FTSTUDIO_DATA_DIR": str(embedded.data_dir)},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "succeeded" in done.stdout
    job_id = int(done.stdout.split()[1])
    token = {"FTSTUDIO_TOKEN": auth_headers(embedded.data_dir)["Authorization"].split()[1]}
    listed = ftstudio("list", "--json", "--api-url", embedded.url, env=token)
    assert job_id in [j["id"] for j in json.loads(listed.stdout)]
    again = ftstudio("cancel", str(job_id), "--api-url", embedded.url, env=token)
    assert again.returncode == 1 and "already ended" in again.stderr
    bad = ftstudio(
        "submit",
        "--dataset",
        str(demo["id"]),
        "--model",
        "tiny-llama",
        "--hp",
        "learning_rate=-1",
        "--api-url",
        embedded.url,
        env=token,
    )
    assert bad.returncode == 1 and "learning_rate" in bad.stderr
