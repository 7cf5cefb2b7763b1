"""Turning a user's string into a path on the server, only ever inside a folder the studio allows.

Every user-given path goes through ``resolve_inside``: it is resolved (symlinks followed, ``..`` folded)
and must land inside one of the allowed roots, so neither ``../../etc`` nor a symlink planted in a
managed folder reaches the rest of the host. Refusals never say whether the path exists.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

MAX_COMPONENT_BYTES = 255  # one path component on ext4, xfs, APFS, NTFS
MAX_PATH_BYTES = 4000


class UnsafePath(ValueError):
    """The string is not a path the caller may use; the message is safe to show (it names no file)."""


def check_components(text: str) -> None:
    """Refuse what the operating system would answer with an error (and the web with a 500)."""
    if not text or "\x00" in text:
        raise UnsafePath("the path is empty or contains a NUL character")
    try:
        encoded = text.encode("utf-8")
    except UnicodeEncodeError:
        raise UnsafePath("the path is not valid Unicode text") from None
    if len(encoded) > MAX_PATH_BYTES:
        raise UnsafePath(f"the path is longer than {MAX_PATH_BYTES} bytes")
    for part in text.replace("\\", "/").split("/"):
        if len(part.encode("utf-8")) > MAX_COMPONENT_BYTES:
            raise UnsafePath(f"a part of the path is longer than {MAX_COMPONENT_BYTES} bytes")


def resolve_inside(text: str, roots: Iterable[Path], *, base: Path | None = None) -> Path:
    """``text`` (absolute, or relative to ``base`` / the first root) resolved inside one of ``roots``.

    Raises UnsafePath when it is outside every root, also through a symlink."""
    check_components(text)
    roots = [Path(r).resolve() for r in roots]
    if not roots:
        raise UnsafePath("no folder is configured for this")
    raw = Path(os.path.expanduser(text)) if text.startswith("~") else Path(text)
    if not raw.is_absolute():
        raw = (base or roots[0]) / raw
    try:
        resolved = raw.resolve()
    except (OSError, RuntimeError):  # a symlink loop, a component the OS refuses
        raise UnsafePath("the path cannot be resolved") from None
    if not any(resolved == root or resolved.is_relative_to(root) for root in roots):
        raise UnsafePath("the path is outside the folders the studio may read")
    return resolved


def file_inside(folder: Path, name: str) -> Path:
    """A file named relative to ``folder`` (e.g. a GGUF file of a model folder), kept inside it."""
    if Path(name).is_absolute():
        raise UnsafePath("give the file's name inside the model folder, not an absolute path")
    return resolve_inside(name, [folder], base=folder)
