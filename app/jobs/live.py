"""Live wake-ups of a job's watchers through Redis pub/sub (real mode).

The database stays the one source of truth: a message on ``ftstudio:job:{id}`` carries no data a reader
relies on, it only says "new rows are committed, read them now". A lost message costs a watcher one
fallback interval (app/jobs/event_stream.py), never a metric. Embedded mode has no Redis: publishing is
a no-op and the stream polls the database.
"""

from __future__ import annotations

import json
import logging
import time
from functools import lru_cache
from typing import Any

from app.settings import get_settings

log = logging.getLogger("ftstudio.live")

CHANNEL_PREFIX = "ftstudio:job:"
# After a failed publish, stay quiet this long: a Redis outage must not slow the supervisor's loop with
# a connect timeout on every poll.
_RETRY_AFTER_SECONDS = 5.0
_down_until = 0.0


def channel(job_id: int) -> str:
    return f"{CHANNEL_PREFIX}{job_id}"


@lru_cache(maxsize=4)
def _client(url: str) -> Any:
    import redis

    return redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)


def publish(job_id: int, what: str = "rows") -> bool:
    """Wake every stream watching ``job_id``. Best effort: returns False (and logs) when Redis is absent
    or down; the watchers' polling fallback covers it."""
    global _down_until
    url = get_settings().redis_url
    if not url or time.monotonic() < _down_until:
        return False
    try:
        _client(url).publish(channel(job_id), json.dumps({"job_id": job_id, "what": what}))
        return True
    except Exception as exc:  # redis.RedisError, OSError: never fail a job over a wake-up
        _down_until = time.monotonic() + _RETRY_AFTER_SECONDS
        log.warning("could not publish a live update for job %s: %s", job_id, exc)
        return False
