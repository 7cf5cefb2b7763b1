"""The serving process: one base model (plus LoRA adapters) behind an OpenAI-compatible HTTP API.

    python -m worker.serving.server --config RUN_DIR/serve.json

Like the training child it knows nothing of the web or the database: it reads its config, loads the
model, binds 127.0.0.1 on a free port and writes ``server.json`` ({"port", "pid", "load_seconds"}) in its
run folder, or ``error.json`` and exit code 2 when the model cannot be loaded. The worker's serving manager
reads those files, polls ``/internal/stats`` and writes the deployment rows. Every route needs the
internal token (``X-Serving-Token``) the manager passed in the config; the web proxies to it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import ValidationError

from worker.serving.protocol import ChatRequest, CompletionRequest

_STATS_KEYS = ("requests", "prompt_tokens", "completion_tokens", "errors")


class Server:
    def __init__(self, engine: Any, batcher: Any, token: str, models: dict[str, str]) -> None:
        self.engine = engine
        self.batcher = batcher
        self.token = token
        self.models = models  # served name -> adapter name (BASE for the base model)
        self.stats: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(_STATS_KEYS, 0))
        self.load_seconds: dict[str, float] = {}

    def adapter_for(self, name: str) -> str:
        if name not in self.models:
            raise HTTPException(404, f"model {name!r} is not served here; serving: {sorted(self.models)}")
        return self.models[name]

    async def run(self, adapter: str, prompt: str, templated: bool, body: Any, model: str):  # type: ignore[no-untyped-def]
        """Submit a request; yields ("delta", i, text, finish)..., then ("usage", {}) or ("error", msg)."""
        from worker.serving.requests import Request as GenRequest

        try:
            settings, rows = body.settings()
        except (ValueError, ValidationError) as exc:
            raise HTTPException(422, str(exc)) from None
        loop = asyncio.get_running_loop()
        events: asyncio.Queue = asyncio.Queue()

        def put(item: tuple) -> None:
            loop.call_soon_threadsafe(events.put_nowait, item)

        request = GenRequest(
            adapter=adapter,
            prompt=prompt,
            templated=templated,
            settings=settings,
            stop=body.stops(),
            emit=lambda i, text, finish: put(("delta", i, text, finish)),
            finish=lambda usage: put(("usage", usage)),
            fail=lambda message: put(("error", message)),
            n=rows,
        )
        stats = self.stats[model]
        stats["requests"] += 1
        self.batcher.submit(request)
        try:
            while True:
                item = await events.get()
                if item[0] == "usage":
                    stats["prompt_tokens"] += item[1]["prompt_tokens"]
                    stats["completion_tokens"] += item[1]["completion_tokens"]
                elif item[0] == "error":
                    stats["errors"] += 1
                yield item
                if item[0] in ("usage", "error"):
                    return
        finally:
            request.cancelled.set()  # a client that went away stops its rows at the next step


def _sse(obj: dict[str, Any]) -> str:
    return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n"


def create_app(server: Server) -> FastAPI:
    app = FastAPI(title="FT Studio serving process")

    @app.middleware("http")
    async def check_token(request: Request, call_next):  # type: ignore[no-untyped-def]
        if request.headers.get("x-serving-token") != server.token:
            return JSONResponse({"detail": "bad serving token"}, status_code=401)
        return await call_next(request)

    @app.get("/internal/stats")
    def stats() -> dict[str, Any]:
        return {
            "models": {name: dict(server.stats[name]) for name in server.models},
            "load_seconds": server.load_seconds,
            "batches": server.batcher.batches,
            "largest_batch": server.batcher.largest_batch,
            "joined_running_batch": server.batcher.joined,
        }

    @app.post("/internal/models")
    async def add_model(payload: dict[str, Any]) -> dict[str, Any]:
        """Load another LoRA adapter of this base, by served name; answers when it is ready."""
        name, folder = str(payload["name"]), payload.get("adapter_path")
        if name in server.models:
            return {"name": name, "load_seconds": server.load_seconds.get(name, 0.0)}
        started = time.monotonic()
        if folder:
            future = server.batcher.call(lambda: server.engine.add_adapter(name, str(folder)))
            try:
                await asyncio.wrap_future(future)
            except Exception as exc:  # noqa: BLE001 - returned to the manager as the deployment's error
                return JSONResponse({"detail": str(exc)}, status_code=422)  # type: ignore[return-value]
        from worker.serving.requests import BASE

        server.models[name] = name if folder else BASE
        server.load_seconds[name] = round(time.monotonic() - started, 3)
        return {"name": name, "load_seconds": server.load_seconds[name]}

    @app.delete("/internal/models/{name}")
    async def remove_model(name: str) -> dict[str, Any]:
        adapter = server.models.pop(name, None)
        if adapter and adapter == name:
            await asyncio.wrap_future(server.batcher.call(lambda: server.engine.remove_adapter(name)))
        return {"remaining": sorted(server.models)}

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [{"id": n, "object": "model", "owned_by": "ftstudio"} for n in server.models],
        }

    @app.post("/v1/chat/completions")
    async def chat(body: ChatRequest) -> Any:
        adapter = server.adapter_for(body.model)
        messages = [{"role": m.role, "content": m.text()} for m in body.messages]
        prompt, templated = server.engine.chat_prompt(messages)
        return await _respond(server, body, adapter, prompt, templated, chat=True)

    @app.post("/v1/completions")
    async def completions(body: CompletionRequest) -> Any:
        adapter = server.adapter_for(body.model)
        try:
            prompt = body.prompt_text()
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        return await _respond(server, body, adapter, prompt, False, chat=False)

    return app


async def _respond(
    server: Server, body: Any, adapter: str, prompt: str, templated: bool, *, chat: bool
) -> Any:
    created = int(time.time())
    rid = ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex[:24]
    events = server.run(adapter, prompt, templated, body, body.model)
    if not body.stream:
        texts: dict[int, str] = defaultdict(str)
        finishes: dict[int, str | None] = {}
        usage: dict[str, int] = {}
        async for item in events:
            if item[0] == "delta":
                texts[item[1]] += item[2]
                if item[3]:
                    finishes[item[1]] = item[3]
            elif item[0] == "error":
                raise HTTPException(500, f"generation failed: {item[1]}")
            else:
                usage = item[1]
        indices = sorted(set(texts) | set(finishes))
        if chat:
            choices = [
                {
                    "index": i,
                    "message": {"role": "assistant", "content": texts[i]},
                    "finish_reason": finishes.get(i),
                }
                for i in indices
            ]
        else:
            choices = [
                {"index": i, "text": texts[i], "finish_reason": finishes.get(i), "logprobs": None}
                for i in indices
            ]
        return {
            "id": rid,
            "object": "chat.completion" if chat else "text_completion",
            "created": created,
            "model": body.model,
            "choices": choices,
            "usage": {**usage, "total_tokens": sum(usage.values())},
        }

    include_usage = bool(body.stream_options and body.stream_options.include_usage)

    async def stream():  # type: ignore[no-untyped-def]
        base = {
            "id": rid,
            "object": "chat.completion.chunk" if chat else "text_completion",
            "created": created,
            "model": body.model,
        }
        started: set[int] = set()
        async for item in events:
            if item[0] == "delta":
                _, index, text, finish = item
                if chat:
                    delta: dict[str, Any] = {"content": text} if text else {}
                    if index not in started:
                        delta["role"] = "assistant"
                        started.add(index)
                    choice = {"index": index, "delta": delta, "finish_reason": finish}
                else:
                    choice = {"index": index, "text": text, "finish_reason": finish, "logprobs": None}
                yield _sse({**base, "choices": [choice]})
            elif item[0] == "error":
                yield _sse({"error": {"message": f"generation failed: {item[1]}", "type": "server_error"}})
                return
            elif include_usage:
                usage = {**item[1], "total_tokens": sum(item[1].values())}
                yield _sse({**base, "choices": [], "usage": usage})
        yield "data: [DONE]\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


def _write_json(path: Path, data: dict[str, Any]) -> None:
    temp = path.with_suffix(".tmp")
    temp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    temp.replace(path)


def _watch_parent(parent: int) -> None:
    """Exit when the worker that started us is gone, so a killed worker leaves no server behind."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(0)


def load_engine(config: dict[str, Any]) -> tuple[Any, dict[str, str], dict[str, float]]:
    """Load the base and the configured models; raises ModelLoadFailed with a readable reason."""
    from worker.serving.engine import Engine
    from worker.serving.requests import BASE

    models: dict[str, str] = {}
    load: dict[str, float] = {}
    started = time.monotonic()
    engine: Any
    if config.get("engine") == "vllm":  # untested here: no GPU (see vllm_engine.py)
        from worker.serving.vllm_engine import VllmEngine

        engine = VllmEngine(config["base_path"], trust_remote_code=bool(config.get("trust_remote_code")))
    else:
        engine = Engine(
            config["base_path"],
            gguf_file=config.get("gguf_file"),
            trust_remote_code=bool(config.get("trust_remote_code")),
            device=config.get("device") or "cpu",
        )
    for entry in config.get("models", []):
        if entry.get("adapter_path"):
            engine.add_adapter(entry["name"], entry["adapter_path"])
            models[entry["name"]] = entry["name"]
        else:
            models[entry["name"]] = BASE
        load[entry["name"]] = round(time.monotonic() - started, 3)
    return engine, models, load


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", required=True, type=Path)
    args = parser.parse_args(argv)
    config = json.loads(args.config.read_text(encoding="utf-8"))
    run_dir = Path(config["run_dir"])
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    import uvicorn

    from worker.serving.batcher import Batcher
    from worker.serving.requests import ModelLoadFailed

    try:
        engine, models, load = load_engine(config)
    except ModelLoadFailed as exc:
        _write_json(run_dir / "error.json", {"error": str(exc)})
        return 2
    batcher = Batcher(engine, window_s=float(config.get("batch_window_s", 0.02)))
    batcher.start()
    server = Server(engine, batcher, config["token"], models)
    server.load_seconds.update(load)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((config.get("host", "127.0.0.1"), int(config.get("port", 0))))
    port = sock.getsockname()[1]
    _write_json(run_dir / "server.json", {"port": port, "pid": os.getpid(), "load_seconds": load})
    uv = uvicorn.Server(uvicorn.Config(create_app(server), log_level="warning", timeout_graceful_shutdown=5))
    uv.run(sockets=[sock])
    batcher.stopped.set()
    return 0


if __name__ == "__main__":
    sys.exit(main())
