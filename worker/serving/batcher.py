"""Gathers concurrent requests and runs them as batches on the engine's one thread.

All model work (generation, loading and removing adapters) happens on this thread, so PEFT's
``set_adapter`` never races a forward pass. Requests that share an adapter (and prompt kind) are batched:
those that arrive together start together (a short gathering window), and those that arrive while a batch
runs join it between decoding steps (continuous batching). Beam-search requests run alone. Adapter
loading waits for the running batch to end.
"""

from __future__ import annotations

import functools
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from worker.serving.engine import Engine
from worker.serving.requests import Request

Item = Request | tuple[Callable[[], Any], Future]


class Batcher(threading.Thread):
    def __init__(
        self, engine: Engine, *, window_s: float = 0.02, max_wait_s: float = 0.15, max_rows: int = 16
    ) -> None:
        super().__init__(name="ftstudio-batcher", daemon=True)
        self.engine = engine
        self.window_s = window_s
        self.max_wait_s = max_wait_s
        self.max_rows = max_rows
        engine.max_rows = max_rows
        self.inbox: queue.Queue[Item] = queue.Queue()
        self.backlog: list[Request] = []
        self.calls: list[tuple[Callable[[], Any], Future]] = []
        self.stopped = threading.Event()
        self.batches = 0
        self.largest_batch = 0
        self.joined = 0  # requests that joined a running batch

    def submit(self, request: Request) -> None:
        self.inbox.put(request)

    def call(self, fn: Callable[[], Any]) -> Future:
        """Run ``fn`` on the model thread between batches (adapter loading)."""
        future: Future = Future()
        self.inbox.put((fn, future))
        return future

    def _ingest(self, item: Item) -> None:
        if isinstance(item, Request):
            self.backlog.append(item)
        else:
            self.calls.append(item)

    def _drain(self) -> None:
        while True:
            try:
                self._ingest(self.inbox.get_nowait())
            except queue.Empty:
                return

    def _run_calls(self) -> None:
        calls, self.calls = self.calls, []
        for fn, future in calls:
            try:
                future.set_result(fn())
            except Exception as exc:  # noqa: BLE001 - handed to the caller
                future.set_exception(exc)

    def run(self) -> None:
        while not self.stopped.is_set():
            if not self.backlog and not self.calls:
                try:
                    self._ingest(self.inbox.get(timeout=0.2))
                except queue.Empty:
                    continue
                # The window slides: each arrival waits one more window for the next (a burst of clients
                # arrives spread out by connection setup), capped so a steady stream cannot hold it back.
                start = time.monotonic()
                deadline = start + self.window_s
                while (left := min(deadline, start + self.max_wait_s) - time.monotonic()) > 0:
                    try:
                        self._ingest(self.inbox.get(timeout=left))
                    except queue.Empty:
                        break
                    deadline = time.monotonic() + self.window_s
            self._drain()
            self._run_calls()
            if not self.backlog:
                continue
            batch = self._pick()
            self.batches += 1
            first = batch[0]
            key = (first.adapter, first.templated)
            admit = functools.partial(self._admit, key) if first.batchable else None
            self.engine.run_batch(batch, admit)
            self.largest_batch = max(self.largest_batch, len(batch))

    def _compatible(self, request: Request, key: tuple) -> bool:
        return request.batchable and (request.adapter, request.templated) == key

    def _pick(self) -> list[Request]:
        first = self.backlog[0]
        if not first.batchable:
            self.backlog.pop(0)
            return [first]
        return self._take((first.adapter, first.templated), self.max_rows, at_least_one=True)

    def _take(self, key: tuple, room: int, *, at_least_one: bool = False) -> list[Request]:
        batch, rest, rows = [], [], 0
        for request in self.backlog:
            fits = rows + request.n <= room or (at_least_one and not batch)
            if self._compatible(request, key) and fits:
                batch.append(request)
                rows += request.n
            else:
                rest.append(request)
        self.backlog = rest
        return batch

    def _admit(self, key: tuple, room: int) -> list[Request]:
        """Called by the engine between steps: compatible requests that arrived meanwhile."""
        self._drain()
        joined = self._take(key, room)
        self.joined += len(joined)
        return joined
