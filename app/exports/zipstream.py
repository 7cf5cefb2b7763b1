"""A zip of a folder, streamed as it is written: no temporary copy of a model of several gigabytes.

zipfile writes to a stream it cannot seek by putting each member's sizes in a data descriptor after the
data (APPNOTE.TXT 4.3.9); readers take them from the central directory at the end. Weights are stored, not
deflated: safetensors hardly compress, and deflating gigabytes would hold a CPU for minutes.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

CHUNK = 1024 * 1024
# Files that could run code when loaded (pickles) are never part of a download.
REFUSED_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


class _Sink:
    """A write-only, unseekable file object that hands out what was written since the last drain."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.offset = 0

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        self.offset += len(data)
        return len(data)

    def tell(self) -> int:  # zipfile records member offsets through tell(); seek() stays unsupported
        return self.offset

    def flush(self) -> None:
        pass

    def drain(self) -> bytes:
        data, self.parts = b"".join(self.parts), []
        return data


def zip_members(folder: Path) -> list[Path]:
    """Regular files under ``folder`` (links are not followed: a link could point outside it)."""
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and not p.is_symlink() and p.suffix.lower() not in REFUSED_SUFFIXES
    )


def stream_zip(folder: Path, prefix: str) -> Iterator[bytes]:
    """Yield the bytes of a zip holding every file of ``folder`` under ``prefix/``."""
    sink = _Sink()
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_STORED) as archive:  # type: ignore[arg-type]
        for path in zip_members(folder):
            info = zipfile.ZipInfo.from_file(path, f"{prefix}/{path.relative_to(folder).as_posix()}")
            info.compress_type = zipfile.ZIP_STORED
            size = path.stat().st_size
            with path.open("rb") as source, archive.open(info, "w", force_zip64=size >= 2**31) as target:
                while chunk := source.read(CHUNK):
                    target.write(chunk)
                    yield sink.drain()
            yield sink.drain()
    yield sink.drain()
