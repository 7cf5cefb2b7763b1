"""The serverless broker of the embedded mode: kombu's filesystem transport with atomic writes.

kombu's own `_put` creates the message file and then writes it; a consumer polling every 0.1 s can move and
read the file in between, get empty bytes and die with JSONDecodeError (seen in CI: the local worker crashed
with "Unrecoverable error: JSONDecodeError"). Here the message is written under a name the consumer ignores
(`.tmp`) and renamed into place, which is atomic on one filesystem.
"""

from __future__ import annotations

import os
import re
import uuid
from time import monotonic

from kombu.transport import TRANSPORT_ALIASES, filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

SCHEME = "ftstudio-fs"
# A queue name becomes part of a file name in the broker folder: never a path, never "..". Celery's own
# queues count too (the control queue is "celery@HOST.celery.pidbox").
_SAFE_QUEUE = re.compile(r"^[A-Za-z0-9@][A-Za-z0-9_.@:-]{0,199}$")


def check_queue_name(queue: str) -> str:
    if not isinstance(queue, str) or not _SAFE_QUEUE.fullmatch(queue) or ".." in queue:
        raise ValueError(f"invalid queue name for the embedded broker: {queue!r}")
    return queue


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):  # type: ignore[no-untyped-def]
        check_queue_name(queue)
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = final + ".tmp"  # `_get` only takes names ending in ".<queue>.msg"
        with open(partial, "wb") as handle:
            handle.write(str_to_bytes(dumps(payload)))
        os.replace(partial, final)

    def _get(self, queue):  # type: ignore[no-untyped-def]
        return super()._get(check_queue_name(queue))

    def _purge(self, queue):  # type: ignore[no-untyped-def]
        return super()._purge(check_queue_name(queue))

    def _size(self, queue):  # type: ignore[no-untyped-def]
        return super()._size(check_queue_name(queue))


class Transport(filesystem.Transport):
    Channel = Channel


def register() -> None:
    """Makes `ftstudio-fs://` a broker URL in this process (web, worker and CLI all import app.queue)."""
    TRANSPORT_ALIASES[SCHEME] = f"{__name__}:Transport"
