"""The schema comes from Alembic on both databases, and goes down and up again cleanly."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.migrations import downgrade_to_base, upgrade_to_head
from app.models import Base
from tests.spine.studio import create_pg_database, drop_pg_database, postgres_available

TABLES = {
    "users",
    "base_models",
    "datasets",
    "dataset_versions",
    "jobs",
    "job_metrics",
    "job_events",
    "checkpoints",
    "scores",
    "workers",
}


def _check(url: str) -> None:
    upgrade_to_head(url)
    engine = sa.create_engine(url)
    try:
        inspector = sa.inspect(engine)
        assert set(inspector.get_table_names()) >= TABLES
        # Every column the models declare exists in the migrated schema (no create_all drift).
        for table in Base.metadata.sorted_tables:
            migrated = {c["name"] for c in inspector.get_columns(table.name)}
            assert {c.name for c in table.columns} <= migrated, table.name
        with engine.connect() as conn:
            assert conn.execute(sa.text("select name, role from users where id = 1")).one() == (
                "local",
                "admin",
            )
    finally:
        engine.dispose()
    downgrade_to_base(url)
    engine = sa.create_engine(url)
    try:
        assert not (TABLES & set(sa.inspect(engine).get_table_names()))
    finally:
        engine.dispose()
    upgrade_to_head(url)


def test_migrations_on_sqlite(tmp_path) -> None:
    _check(f"sqlite:///{tmp_path / 'm.db'}")


def test_migrations_on_postgresql() -> None:
    if not postgres_available():
        pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432")
    name, url = create_pg_database()
    try:
        _check(url)
        engine = sa.create_engine(url)
        with engine.begin() as conn:  # the seeded id must not collide with the sequence
            conn.execute(
                sa.text("insert into users (name, role, created_at) values ('second', 'user', now())")
            )
        engine.dispose()
    finally:
        drop_pg_database(name)
