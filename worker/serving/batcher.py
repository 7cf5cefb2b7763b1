"""Gathers concurrent requests for a few milliseconds and runs them as one batch on the engine's thread.

All model work (generation, loading and removing adapters) happens on this one thread, so PEFT's
``set_adapter`` never races a forward pass. Requests that share an adapter (and prompt kind) are batched;
beam-search requests run alone.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from worker.serving.engine import Engine, Request


class Batcher(threading.Thread):
    def __init__(
        self, engine: Engine, *, window_s: float = 0.02, max_wait_s: float = 0.15, max_rows: int = 16
    ) -> None:
        super().__init__(name="ftstudio-batcher", daemon=True)
        self.engine = engine
        self.window_s = window_s
        self.max_wait_s = max_wait_s
        self.max_rows = max_rows
        self.inbox: queue.Queue[Request | tuple[Callable[[], Any], Future]] = queue.Queue()
        self.stopped = threading.Event()
        self.batches = 0
        self.largest_batch = 0

    def submit(self, request: Request) -> None:
        self.inbox.put(request)

    def call(self, fn: Callable[[], Any]) -> Future:
        """Run ``fn`` on the model thread between batches (adapter loading)."""
        future: Future = Future()
        self.inbox.put((fn, future))
        return future

    def run(self) -> None:
        pending: list[Request] = []
        while not self.stopped.is_set():
            if not pending:
                try:
                    pending.append(self._take(self.inbox.get(timeout=0.2)))
                except queue.Empty:
                    continue
                # A short window lets requests that arrive together share the batch. It slides: each
                # arrival waits one more window for the next (a burst of clients arrives spread out by
                # connection setup), capped so a steady stream cannot hold a batch back for long.
                start = time.monotonic()
                deadline = start + self.window_s
                while (left := min(deadline, start + self.max_wait_s) - time.monotonic()) > 0:
                    try:
                        pending.append(self._take(self.inbox.get(timeout=left)))
                    except queue.Empty:
                        break
                    deadline = time.monotonic() + self.window_s
            while True:  # whatever queued up while the last batch ran joins this one
                try:
                    pending.append(self._take(self.inbox.get_nowait()))
                except queue.Empty:
                    break
            pending = [r for r in pending if r is not None]
            if not pending:
                continue
            batch, pending = self._pick(pending)
            self.batches += 1
            self.largest_batch = max(self.largest_batch, len(batch))
            self.engine.run_batch(batch)

    def _take(self, item: Request | tuple[Callable[[], Any], Future]) -> Request | None:
        if isinstance(item, Request):
            return item
        fn, future = item
        try:
            future.set_result(fn())
        except Exception as exc:  # noqa: BLE001 - handed to the caller
            future.set_exception(exc)
        return None

    def _pick(self, pending: list[Request]) -> tuple[list[Request], list[Request]]:
        first = pending[0]
        if not first.batchable:
            return [first], pending[1:]
        key = (first.adapter, first.templated)
        batch, rest, rows = [], [], 0
        for request in pending:
            fits = rows + request.n <= self.max_rows or not batch
            if request.batchable and (request.adapter, request.templated) == key and fits:
                batch.append(request)
                rows += request.n
            else:
                rest.append(request)
        return batch, rest
