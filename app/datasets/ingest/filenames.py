"""Checking an uploaded file's name before anything is written under it."""

from __future__ import annotations

import unicodedata

from app.datasets.ingest.schema import IngestError

MAX_NAME_LENGTH = 255  # the common file-system limit for one path component (ext4, NTFS, APFS)
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"{p}{i}" for p in ("COM", "LPT") for i in range(1, 10))}


def safe_filename(name: str) -> str:
    """Return `name` unchanged when it is a plain file name; raise IngestError otherwise.

    We refuse rather than "clean" a bad name: silently turning "../../etc/passwd" into "passwd" hides an
    attack or a client bug from the user and the logs.
    """
    if not isinstance(name, str) or not name.strip():
        raise IngestError("the file name is empty", field="filename")
    if "\x00" in name or any(unicodedata.category(ch) == "Cc" for ch in name):
        raise IngestError("the file name contains control characters", field="filename")
    if "/" in name or "\\" in name:
        raise IngestError(f"the file name {name!r} contains path parts; send the bare name", field="filename")
    if len(name) >= 2 and name[1] == ":":  # "C:evil.json" is drive-relative on Windows
        raise IngestError(f"the file name {name!r} names a drive", field="filename")
    if name in (".", "..") or name.strip(". ") == "":
        raise IngestError(f"{name!r} is not a file name", field="filename")
    if name != name.strip():
        raise IngestError("the file name starts or ends with spaces", field="filename")
    if len(name.encode("utf-8")) > MAX_NAME_LENGTH:
        raise IngestError(f"the file name is longer than {MAX_NAME_LENGTH} bytes", field="filename")
    if name.split(".")[0].upper() in _WINDOWS_RESERVED:
        raise IngestError(f"{name!r} is a reserved device name", field="filename")
    return name
