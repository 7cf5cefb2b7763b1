"""Encrypt API keys at rest with Fernet (the `cryptography` package), keyed by a server secret file.

The file (``<data dir>/server_secret.key``, 32 random bytes, mode 0600) is made on first use; the web and
the worker share the data directory, so both derive the same Fernet key from it (HKDF-SHA256). A database
dump alone does not reveal any key."""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from app.settings import get_settings

SECRET_FILE = "server_secret.key"
_INFO = b"ftstudio secrets v1"


class SecretUnreadable(ValueError):
    """The stored ciphertext does not decrypt with this server's secret (file replaced or lost)."""


def _server_secret(data_dir: Path) -> bytes:
    path = data_dir / SECRET_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        try:
            # O_EXCL: two processes starting at once never write two different secrets.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(os.urandom(32))
    secret = path.read_bytes()
    if len(secret) < 32:
        raise SecretUnreadable(f"{path} is shorter than 32 bytes; it may still be being written")
    return secret


def _fernet(data_dir: Path | None = None) -> Fernet:
    secret = _server_secret(data_dir or get_settings().resolved_data_dir)
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret)
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt(plain: str, data_dir: Path | None = None) -> str:
    return _fernet(data_dir).encrypt(plain.encode("utf-8")).decode("ascii")


def decrypt(token: str, data_dir: Path | None = None) -> str:
    try:
        return _fernet(data_dir).decrypt(token.encode("ascii")).decode("utf-8")
    except InvalidToken:
        raise SecretUnreadable(
            "a saved API key cannot be decrypted with this server's secret file; enter the key again"
        ) from None


def redact(text: str, secret: str | None) -> str:
    """Remove a key (and the long fragments of it some servers echo back) from a message."""
    if not secret or not text:
        return text
    text = text.replace(secret, "***")
    # Servers often echo a masked key ("sk-abc...wxyz"): drop any 8+ character piece of it too.
    if len(secret) >= 12:
        for size in (len(secret) // 2, 8):
            for start in range(0, len(secret) - size + 1):
                piece = secret[start : start + size]
                if piece in text:
                    text = text.replace(piece, "***")
    return text
