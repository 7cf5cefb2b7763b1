"""Engine and session factory. One engine per database URL per process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from app.settings import get_settings


def _pool_options() -> dict[str, object]:
    """Sized for the web's threads: FastAPI runs sync routes on anyio's 40 threads and each may hold one
    connection, so a pool smaller than that made 200 concurrent requests wait 30 s for a connection and
    answer 500 (issue 9). A full pool now fails within a few seconds and the web answers 503."""
    settings = get_settings()
    return {
        "pool_size": settings.db_pool_size,
        "max_overflow": settings.db_max_overflow,
        "pool_timeout": settings.db_pool_timeout_seconds,
    }


@lru_cache
def engine_for(url: str) -> Engine:
    if url.startswith("sqlite"):
        # check_same_thread off: FastAPI runs sync endpoints in a thread pool; the timeout lets the web
        # process and the worker share the file without "database is locked" under short contention.
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **_pool_options()
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            # WAL lets readers (the web) go on while the worker writes metric rows.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, **_pool_options())


def get_engine() -> Engine:
    return engine_for(get_settings().sqlalchemy_url)


def session_factory() -> sessionmaker[Session]:
    return sessionmaker(bind=get_engine(), expire_on_commit=False)


async def get_session() -> AsyncIterator[Session]:
    """FastAPI dependency: one session per request, closed afterwards. Services commit.

    Async on purpose: FastAPI runs a sync dependency's cleanup on the same 40-thread pool as the routes, so
    under a burst each finished request waited behind new ones for a thread to close its session, holding
    its connection meanwhile: the pool ran dry and requests failed (issue 9). Here the close (returning the
    connection, a rollback) runs on the event loop as soon as the response is sent. The session itself
    connects lazily, in the route's thread, on its first query."""
    session = session_factory()()
    try:
        yield session
    finally:
        session.close()


@contextmanager
def session_scope() -> Iterator[Session]:
    """For the worker and the CLI: commit on success, roll back on error."""
    session = session_factory()()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
