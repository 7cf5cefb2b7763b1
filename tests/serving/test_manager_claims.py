"""The serving manager's placement on both databases: exactly one worker claims a waiting deployment of its
queue (recording worker and device), other queues are left alone, and a deployment whose worker went
offline is marked failed. No model is loaded: the claim and the orphan check are database work."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.models import LOCAL_USER_ID, Deployment, WorkerNode, utcnow
from tests.spine.studio import create_pg_database, drop_pg_database, postgres_available


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    from app.migrations import upgrade_to_head
    from app.settings import settings_from

    name = None
    if request.param == "postgresql":
        if not postgres_available():
            pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432 (CI starts it)")
        name, url = create_pg_database()
    else:
        url = f"sqlite:///{tmp_path / 'claims.db'}"
    try:
        with settings_from({"DATABASE_URL": url, "FTSTUDIO_DATA_DIR": str(tmp_path)}):
            upgrade_to_head(url)
            try:
                yield url
            finally:
                from app.db import engine_for

                engine_for(url).dispose()
    finally:
        if name:
            drop_pg_database(name)


def _deployment(session, queue: str, name: str) -> int:  # type: ignore[no-untyped-def]
    dep = Deployment(
        owner_id=LOCAL_USER_ID, name=name, served_model_name=name, base_path="/nowhere", queue=queue
    )
    session.add(dep)
    session.flush()
    return dep.id


def test_one_claim_per_deployment_and_orphans_fail(database: str) -> None:
    from app.db import session_scope
    from worker.serving.manager import ServingManager

    with session_scope() as session:
        mine = _deployment(session, "gpu", "m1")
        other = _deployment(session, "serve", "m2")
        now = utcnow()
        for wid in ("w1", "w2"):
            session.add(
                WorkerNode(
                    id=wid,
                    hostname="h",
                    pid=1,
                    queues=["gpu"],
                    accelerators={},
                    status="online",
                    started_at=now,
                    last_seen_at=now,
                )
            )
    first, second = ServingManager("w1", ["gpu"]), ServingManager("w2", ["gpu"])
    first._claim()
    second._claim()
    with session_scope() as session:
        claimed = session.get(Deployment, mine)
        assert claimed.worker_id == "w1"
        assert claimed.device == "cpu" or claimed.device.startswith("cuda:")
        assert session.get(Deployment, other).worker_id is None  # not its queue
        session.get(WorkerNode, "w1").status = "offline"
    with session_scope() as session:
        second._fail_orphans(session)
    with session_scope() as session:
        orphan = session.get(Deployment, mine)
        assert orphan.status == "failed" and "offline" in orphan.error
        assert session.get(Deployment, other).status == "loading"
