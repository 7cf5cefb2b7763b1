"""A small but real OpenAI-compatible endpoint for the synthesis tests, until the studio's own deployments
(serving branch) can stand in: FastAPI + uvicorn on 127.0.0.1, POST /v1/chat/completions (non-stream,
response_format accepted), answered by a REAL tiny causal LM (worker/training/tiny_model.py) generating with
transformers. The random-init model is first overfitted for a few hundred CPU steps to answer
"主题：<topic>" with a fixed JSON conversation about that topic, so its output is parseable and yet generated.

Models the tests ask for (the `model` field):
- "tiny": the model's own answer;
- "tiny-malformed": the model's answer with its JSON punctuation stripped (unparseable text);
- "tiny-sometimes-malformed": every third answer malformed that way, the others as "tiny";
- "tiny-429": answers 429 to its first two requests, then like "tiny" (backoff);
- "tiny-nojson": answers 400 when response_format is set (JSON-mode fallback);
- "tiny-slow": like "tiny" after a 1 s pause (so a run can be cancelled half way).
Only the last user message conditions the model (it was trained on nothing else); the system prompt the
studio renders is accepted and ignored.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

TOPICS = [
    "sleep", "exams", "roommates", "work stress", "shyness", "parents", "loneliness", "anger",
    "grief", "moving", "money", "friends", "health", "sports", "music", "study", "travel", "weather",
    "cooking", "pets", "school", "jobs", "holidays", "reading",
]  # fmt: skip
PROMPT = "主题：{topic}"  # the default template's user message (app/synthesis/prompts.py)


def answer_for(topic: str) -> str:
    return json.dumps({"question": f"How can I cope with {topic}?", "answer": f"Talk about {topic} calmly."})


def train_model(out_dir: Path, steps: int = 150) -> tuple[Any, Any]:
    """Overfit a tiny Llama to map each topic's prompt to its JSON answer (greedy decoding reproduces it)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from worker.training.tiny_model import build_tiny_model

    # 150 full-batch steps at lr 1e-2 reproduce all 24 answers exactly under greedy decoding (measured:
    # loss 7.0 -> 0.04, about a minute on a busy 2-core CPU).
    path = build_tiny_model(out_dir, arch="llama", hidden_size=64, num_layers=2)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    torch.manual_seed(0)
    texts = [PROMPT.format(topic=t) + "\n" + answer_for(t) + tokenizer.eos_token for t in TOPICS]
    batch = tokenizer(texts, return_tensors="pt", padding=True)
    labels = batch["input_ids"].clone()
    labels[batch["attention_mask"] == 0] = -100
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model.train()
    # One thread: on a shared, busy 2-core machine two threads contend and a step took 2.7 s instead of 0.3 s.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for _ in range(steps):
            loss = model(**batch, labels=labels).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
    finally:
        torch.set_num_threads(threads)
    model.eval()
    model.save_pretrained(out_dir / "trained")
    tokenizer.save_pretrained(out_dir / "trained")
    return model, tokenizer


def load_or_train(out_dir: Path) -> tuple[Any, Any]:
    """SYNTH_TEST_MODEL_DIR (optional, for working on these tests) keeps the trained model between runs."""
    import os

    from transformers import AutoModelForCausalLM, AutoTokenizer

    cache = os.environ.get("SYNTH_TEST_MODEL_DIR")
    if cache and (Path(cache) / "trained" / "config.json").is_file():
        trained = Path(cache) / "trained"
        return AutoModelForCausalLM.from_pretrained(trained).eval(), AutoTokenizer.from_pretrained(trained)
    return train_model(Path(cache) if cache else out_dir)


class TinyEndpoint:
    def __init__(self, model: Any, tokenizer: Any) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.lock = threading.Lock()
        self.calls: dict[str, int] = {}
        self.requests: list[dict[str, Any]] = []  # what arrived (headers included), for the key checks
        self.url = ""
        self._server: Any = None

    def generate(self, prompt: str, max_tokens: int, temperature: float) -> tuple[str, int, int]:
        import torch

        inputs = self.tokenizer(prompt + "\n", return_tensors="pt")
        with self.lock, torch.no_grad():
            threads = torch.get_num_threads()
            torch.set_num_threads(1)  # see train_model: one thread is faster on a busy shared machine
            try:
                output = self.model.generate(
                    **inputs,
                    max_new_tokens=min(max_tokens, 80),
                    do_sample=temperature > 0.05,
                    temperature=max(temperature, 0.05),
                    pad_token_id=self.tokenizer.pad_token_id,
                    eos_token_id=self.tokenizer.eos_token_id,
                )
            finally:
                torch.set_num_threads(threads)
        new = output[0][inputs["input_ids"].shape[1] :]
        return self.tokenizer.decode(new, skip_special_tokens=True), inputs["input_ids"].shape[1], len(new)

    def app(self) -> Any:
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def chat(request: Request) -> JSONResponse:
            body = await request.json()
            self.requests.append({"headers": dict(request.headers), "body": body})
            model = str(body.get("model", "tiny"))
            count = self.calls[model] = self.calls.get(model, 0) + 1
            if model == "tiny-429" and count <= 2:
                return JSONResponse(
                    {"error": {"message": "slow down", "type": "rate_limit"}}, status_code=429
                )
            if model == "tiny-nojson" and body.get("response_format"):
                return JSONResponse(
                    {"error": {"message": "response_format is not supported"}}, status_code=400
                )
            if model == "tiny-slow":
                time.sleep(1.0)
            user = next((m["content"] for m in reversed(body["messages"]) if m["role"] == "user"), "")
            text, prompt_tokens, completion_tokens = self.generate(
                user, int(body.get("max_tokens") or 80), float(body.get("temperature", 0.0))
            )
            if model == "tiny-malformed" or (model == "tiny-sometimes-malformed" and count % 3 == 0):
                text = "".join(c for c in text if c not in '{}[]":,') or "nothing useful"
            return JSONResponse({
                "id": f"chatcmpl-{count}", "object": "chat.completion", "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                          "total_tokens": prompt_tokens + completion_tokens},
            })  # fmt: skip

        return app

    def start(self) -> str:
        import uvicorn

        from tests.spine.embedded_server import free_port

        port = free_port()
        config = uvicorn.Config(self.app(), host="127.0.0.1", port=port, log_level="warning")
        self._server = uvicorn.Server(config)
        thread = threading.Thread(target=self._server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{port}/v1"
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
