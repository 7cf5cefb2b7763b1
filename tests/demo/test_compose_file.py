"""docker-compose.yml and the Dockerfile, validated by the real Compose v2 binary (no engine needed)."""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from pathlib import Path

import pytest

SERVICES = {"postgres", "redis", "migrate", "web", "gpu-worker"}


def _config(binary: Path, compose_file: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    # --project-directory pins relative paths (build context) to the repo even for a copy in tmp_path.
    cmd = [str(binary), "-f", str(compose_file), "--project-directory", str(compose_file.parent), "config"]
    return subprocess.run([*cmd, *extra], capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture(scope="module")
def resolved(compose_binary: Path, repo_root: Path) -> dict:
    done = _config(compose_binary, repo_root / "docker-compose.yml", "--format", "json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_compose_accepts_the_file(compose_binary: Path, repo_root: Path) -> None:
    done = _config(compose_binary, repo_root / "docker-compose.yml", "--quiet")
    assert done.returncode == 0, done.stderr


def test_services_and_their_order(resolved: dict) -> None:
    services = resolved["services"]
    assert set(services) == SERVICES
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("web", "gpu-worker"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"
    assert services["postgres"]["healthcheck"]["test"] and services["redis"]["healthcheck"]["test"]
    assert services["migrate"]["command"] == ["ftstudio", "bootstrap"]  # migrate + demo data and model
    assert services["migrate"].get("restart") == "no"
    assert services["web"]["command"] == ["ftstudio", "web", "--host", "0.0.0.0", "--port", "8000"]
    assert services["gpu-worker"]["command"] == ["ftstudio", "worker", "--queues", "gpu"]


def test_gpu_reservation(resolved: dict) -> None:
    devices = resolved["services"]["gpu-worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    assert "deploy" not in resolved["services"]["web"]


def test_shared_data_volume_and_environment(resolved: dict) -> None:
    app_services = ("migrate", "web", "gpu-worker")
    sources = set()
    for name in app_services:
        svc = resolved["services"][name]
        env = svc["environment"]
        assert env["FTSTUDIO_DATA_DIR"] == "/data"
        assert env["REDIS_URL"] == "redis://redis:6379/0"
        assert env["DATABASE_URL"].startswith("postgresql+psycopg://ftstudio:")
        assert env["DATABASE_URL"].endswith("@postgres:5432/ftstudio")
        (mount,) = [v for v in svc["volumes"] if v["target"] == "/data"]
        assert mount["type"] == "volume"
        sources.add(mount["source"])
    assert len(sources) == 1 and sources <= set(resolved["volumes"])


def test_password_comes_from_the_environment(compose_binary: Path, repo_root: Path) -> None:
    cmd = [str(compose_binary), "-f", str(repo_root / "docker-compose.yml"), "config", "--format", "json"]
    env = {"PATH": "/usr/bin:/bin", "POSTGRES_PASSWORD": "s3cret-from-env"}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False, env=env)
    assert done.returncode == 0, done.stderr
    services = json.loads(done.stdout)["services"]
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == "s3cret-from-env"
    assert ":s3cret-from-env@" in services["web"]["environment"]["DATABASE_URL"]


@pytest.mark.parametrize(
    ("old", "new", "why", "complaint"),
    [
        ("    shm_size: 8gb\n", "    shm_size: 8gb\n    gpu_count: 1\n", "unknown key", "gpu_count"),
        (
            "      postgres:\n        condition: service_healthy\n",
            "      postgress:\n        condition: service_healthy\n",
            "undefined service",
            "postgress",
        ),
        ("              count: 1\n", "              count: [1]\n", "wrong type", "count must be"),
        (
            "    stop_grace_period: 2m\n",
            "    stop_grace_period: two minutes\n",
            "bad duration",
            "invalid duration",
        ),
    ],
)
def test_compose_rejects_a_broken_copy(
    compose_binary: Path, repo_root: Path, tmp_path: Path, old: str, new: str, why: str, complaint: str
) -> None:
    text = (repo_root / "docker-compose.yml").read_text(encoding="utf-8")
    assert text.count(old) == 1, f"the test's anchor for '{why}' no longer matches docker-compose.yml"
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(text.replace(old, new), encoding="utf-8")
    done = _config(compose_binary, broken, "--quiet")
    assert done.returncode != 0, f"compose accepted a file with a {why}"
    assert complaint in done.stderr, done.stderr


def test_dockerfile_pins_the_torch_of_pyproject(repo_root: Path) -> None:
    dockerfile = (repo_root / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11-slim\s*$", dockerfile, re.M)
    deps = tomllib.loads((repo_root / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "dependencies"
    ]
    (torch_pin,) = [d for d in deps if d.replace(" ", "").startswith("torch==")]
    match = re.search(r"^ARG TORCH_VERSION=(\S+)$", dockerfile, re.M)
    assert match and torch_pin.split("==")[1] == match.group(1)
    assert re.search(r"^ARG TORCH_INDEX_URL=", dockerfile, re.M)
    assert re.search(r"pip install .*--index-url \"\$\{TORCH_INDEX_URL\}\"", dockerfile)
    assert "pip install ." in dockerfile


def test_dockerignore_keeps_local_state_out(repo_root: Path) -> None:
    ignored = {line.strip() for line in (repo_root / ".dockerignore").read_text().splitlines()}
    assert {".git", ".venv", "data", ".env"} <= ignored
