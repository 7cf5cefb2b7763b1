"""Headless Chromium for browser tests: Debian's package (tests/run.sh installs it), driven by Playwright."""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def require_chromium() -> str:
    """Chromium's path; without it, skips saying why (called first by tests that start servers before
    they open a page, so a host without it skips before that work)."""
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (tests/run.sh installs it: apt-get install chromium)")
    return CHROMIUM


@contextmanager
def chromium_browser(args: Sequence[str] = ()) -> Iterator[Browser]:
    """Headless Chromium, closed on the way out; `args` are extra command-line switches. Without Chromium,
    skips saying why."""
    executable = require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=executable, headless=True, args=["--no-sandbox", "--disable-gpu", *args]
        )
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def chromium_page(
    width: int = 1280, height: int = 900, args: Sequence[str] = ()
) -> Iterator[tuple[Page, list[str]]]:
    """A fresh page and the list its uncaught JavaScript errors go to; `args` are extra command-line
    switches for Chromium. Without Chromium, skips saying why."""
    with chromium_browser(args) as browser:
        page = browser.new_page(viewport={"width": width, "height": height})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        yield page, errors
