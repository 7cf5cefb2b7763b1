"""What signing in costs per request: the same API read (GET /api/v1/jobs) with a Bearer token and with a
session cookie, against the baseline of the public health route in the same app (no lookup), all
in-process on a fresh SQLite studio. Prints ratios to the baseline; raw numbers go to a JSON beside.

    python benchmarks/auth_overhead.py [--requests 300] [--out benchmarks/auth_overhead.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _time(client, url: str, n: int) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(n):
        start = time.perf_counter()
        response = client.get(url)
        out.append(time.perf_counter() - start)
        assert response.status_code == 200, (url, response.status_code)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("auth_overhead.json"))
    args = parser.parse_args()
    os.environ["FTSTUDIO_DATA_DIR"] = tempfile.mkdtemp(prefix="ftstudio-auth-bench-")
    os.environ.pop("DATABASE_URL", None)
    from app.migrations import upgrade_to_head
    from app.settings import get_settings
    from app.web import create_app
    from tests.clients import browser_client, studio_client

    upgrade_to_head(get_settings().sqlalchemy_url)
    from app.db import session_scope
    from app.users.service import UserService

    with session_scope() as session:
        UserService(session).create("bench", password="benchmark password")
    app = create_app()
    token_client = studio_client(app, user="bench")
    session_client = browser_client(app, user="bench", password="benchmark password")
    for client in (token_client, session_client):  # warm up
        _time(client, "/api/v1/jobs", 20)
    results = {
        "health_public": _time(token_client, "/api/v1/health", args.requests),
        "jobs_bearer_token": _time(token_client, "/api/v1/jobs", args.requests),
        "jobs_session_cookie": _time(session_client, "/api/v1/jobs", args.requests),
    }
    start = time.perf_counter()
    from app.users.passwords import hash_password, verify_password

    stored = hash_password("benchmark password")
    for _ in range(10):
        verify_password(stored, "benchmark password")
    login_verify = (time.perf_counter() - start) / 10
    baseline = statistics.median(results["health_public"])
    summary = {
        name: {"median_ms": statistics.median(v) * 1000, "ratio_to_health": statistics.median(v) / baseline}
        for name, v in results.items()
    }
    summary["argon2_verify_ms"] = {"median_ms": login_verify * 1000}
    args.out.write_text(
        json.dumps({"requests": args.requests, "summary": summary, "raw_seconds": results}, indent=1)
    )
    for name, row in summary.items():
        ratio = f"  x{row['ratio_to_health']:.2f} of health" if "ratio_to_health" in row else ""
        print(f"{name:<22} {row['median_ms']:8.2f} ms{ratio}")


if __name__ == "__main__":
    main()
