"""The serverless broker of the embedded mode: kombu's filesystem transport with atomic writes.

kombu's own `_put` creates the message file and then writes it; a consumer polling every 0.1 s can move and
read the file in between, get empty bytes and die with JSONDecodeError (seen in CI: the local worker crashed
with "Unrecoverable error: JSONDecodeError"). Here the message is written under a name the consumer ignores
(`.tmp`) and renamed into place, which is atomic on one filesystem.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic

from kombu.transport import TRANSPORT_ALIASES, filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

SCHEME = "ftstudio-fs"


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):  # type: ignore[no-untyped-def]
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = final + ".tmp"  # `_get` only takes names ending in ".<queue>.msg"
        with open(partial, "wb") as handle:
            handle.write(str_to_bytes(dumps(payload)))
        os.replace(partial, final)


class Transport(filesystem.Transport):
    Channel = Channel


def register() -> None:
    """Makes `ftstudio-fs://` a broker URL in this process (web, worker and CLI all import app.queue)."""
    TRANSPORT_ALIASES[SCHEME] = f"{__name__}:Transport"
