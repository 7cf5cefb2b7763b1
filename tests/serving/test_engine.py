"""The serving engine in-process on the tiny model: its step-by-step batched decoder gives exactly what
transformers' generate gives (greedy, left-padded batch), stop strings cut and never leak, n rows sample
independently, and an adapter changes the answer while the base stays reachable in the same process."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests.spine.conftest import tiny_model_dir  # noqa: F401
from worker.evaluation.generation import GenerationSettings, generate_texts
from worker.serving.engine import Engine
from worker.serving.requests import BASE, Request

pytestmark = pytest.mark.slow

CHATS = [
    [{"role": "user", "content": "你好"}],
    [{"role": "user", "content": "Hello there, how are you today?"}],
]


def _request(engine: Engine, chat: list[dict], settings: GenerationSettings, *, stop=(), n=1, adapter=BASE):  # type: ignore[no-untyped-def]
    prompt, templated = engine.chat_prompt(chat)
    out: dict = {"texts": {}, "finish": {}, "usage": None, "error": None, "deltas": 0}
    done = threading.Event()

    def emit(i: int, text: str, finish: str | None) -> None:
        out["texts"][i] = out["texts"].get(i, "") + text
        out["deltas"] += bool(text)
        if finish:
            out["finish"][i] = finish

    def finish(usage: dict) -> None:
        out["usage"] = usage
        done.set()

    def fail(message: str) -> None:
        out["error"] = message
        done.set()

    request = Request(adapter, prompt, templated, settings, list(stop), emit, finish, fail, n=n)
    return request, out


@pytest.fixture(scope="module")
def engine(tiny_model_dir: Path) -> Engine:  # noqa: F811
    return Engine(str(tiny_model_dir), gguf_file=None, trust_remote_code=False, device="cpu")


def test_batched_steps_equal_generate(engine: Engine) -> None:
    settings = GenerationSettings(max_new_tokens=20)
    pairs = [_request(engine, chat, settings) for chat in CHATS]
    engine.run_batch([r for r, _ in pairs])
    prompts = [engine.chat_prompt(chat)[0] for chat in CHATS]
    expected = generate_texts(engine.model, engine.tokenizer, prompts, settings, batch_size=2)
    for (_, out), want in zip(pairs, expected, strict=True):
        assert out["error"] is None
        assert out["texts"][0].strip() == want[0]
        assert out["deltas"] > 1, "text should arrive piece by piece"
        assert out["usage"]["prompt_tokens"] > 0 and out["usage"]["completion_tokens"] <= 20


def test_stop_strings_cut_and_n_rows_sample(engine: Engine) -> None:
    free, free_out = _request(engine, CHATS[1], GenerationSettings(max_new_tokens=24))
    engine.run_batch([free])
    text = free_out["texts"][0]
    stop = text[3:5]
    cut, cut_out = _request(engine, CHATS[1], GenerationSettings(max_new_tokens=24), stop=[stop])
    sampled, sampled_out = _request(
        engine, CHATS[0], GenerationSettings(do_sample=True, top_k=0, max_new_tokens=12, seed=5), n=3
    )
    engine.run_batch([cut, sampled])
    assert cut_out["texts"][0] == text[: text.find(stop)] and cut_out["finish"][0] == "stop"
    assert len(sampled_out["texts"]) == 3 and len(set(sampled_out["texts"].values())) > 1


def test_an_adapter_changes_answers_and_the_base_stays(engine: Engine, tmp_path: Path) -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(engine.model.name_or_path)
    torch.manual_seed(0)
    peft = get_peft_model(base, LoraConfig(r=8, target_modules="all-linear", init_lora_weights=False))
    peft.save_pretrained(tmp_path / "adapter")
    settings = GenerationSettings(max_new_tokens=12)
    before, before_out = _request(engine, CHATS[0], settings)
    engine.run_batch([before])
    engine.add_adapter("random", str(tmp_path / "adapter"))
    tuned, tuned_out = _request(engine, CHATS[0], settings, adapter="random")
    again, again_out = _request(engine, CHATS[0], settings, adapter=BASE)
    engine.run_batch([tuned])
    engine.run_batch([again])
    assert tuned_out["texts"][0] != before_out["texts"][0]
    assert again_out["texts"][0] == before_out["texts"][0], "adapters off must give the base's answer"
    engine.remove_adapter("random")


def test_a_request_joins_a_running_batch(engine: Engine) -> None:
    """Continuous batching: a request admitted mid-batch gets the same greedy answer as alone."""
    settings = GenerationSettings(max_new_tokens=16)
    alone, alone_out = _request(engine, CHATS[1], settings)
    engine.run_batch([alone])
    first, first_out = _request(engine, CHATS[0], GenerationSettings(max_new_tokens=24))
    late, late_out = _request(engine, CHATS[1], settings)
    offered = [late]

    def admit(room: int) -> list:
        joined, offered[:] = offered[:], []
        return joined

    engine.run_batch([first], admit)
    assert late_out["error"] is None and first_out["error"] is None
    assert late_out["texts"][0] == alone_out["texts"][0]
    assert late_out["usage"]["completion_tokens"] == alone_out["usage"]["completion_tokens"]
