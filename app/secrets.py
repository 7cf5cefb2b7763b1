"""Keeping secrets out of what the studio prints: database and Redis URLs with passwords, tokens in URLs.

``mask_url`` is for a URL the studio prints on purpose (``ftstudio up``, ``ftstudio migrate``);
``SecretFilter`` is installed on the web's and the worker's log handlers, so a URL that reaches a log
line by accident (a library's error message, a banner) is masked there too.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
_SECRET_KEYS = re.compile(r"pass(word)?|secret|token|key|auth", re.IGNORECASE)
# scheme://user:password@host  (the user may be empty: redis://:password@host)
_USERINFO = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]*:)(?P<secret>[^\s@/]+)@")
_QUERY_SECRET = re.compile(r"(?P<head>[?&](?:password|passwd|pwd|secret|token|access_token|api_key)=)[^&\s]+",
                           re.IGNORECASE)  # fmt: skip


def mask_url(url: str) -> str:
    """postgresql://user:secret@host/db -> postgresql://user:***@host/db; ?password=x -> ?password=***."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return mask_text(url)
    if not parts.scheme or not parts.netloc:
        return mask_text(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        if ":" in userinfo:
            netloc = f"{userinfo.split(':', 1)[0]}:{MASK}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, MASK if _SECRET_KEYS.search(k) else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def mask_text(text: str) -> str:
    """Every URL password and token-like query value inside free text, masked."""
    text = _USERINFO.sub(lambda m: f"{m.group('head')}{MASK}@", text)
    return _QUERY_SECRET.sub(lambda m: f"{m.group('head')}{MASK}", text)


class SecretFilter(logging.Filter):
    """Masks secrets in a record's final message (its arguments included) before any handler writes it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: let logging report it as usual
            return True
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


# Loggers that own handlers in the studio's processes (uvicorn and Celery configure their own).
_HANDLER_OWNERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access", "celery")


def install_log_filter(*loggers: logging.Logger) -> None:
    """Adds the filter to every handler of ``loggers`` (default: root, uvicorn's, Celery's) lacking it."""
    targets = loggers or tuple(logging.getLogger(name) for name in _HANDLER_OWNERS)
    for target in targets:
        for handler in target.handlers:
            if not any(isinstance(f, SecretFilter) for f in handler.filters):
                handler.addFilter(SecretFilter())
