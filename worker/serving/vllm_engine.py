"""The same Engine interface on vLLM, for GPU workers with the ``serve-vllm`` extra installed.

WRITTEN BUT NOT RUN: the machines this was built on have no GPU and no vLLM, so this path has never
executed; the transformers engine (engine.py) is the tested one. It uses vLLM's offline ``LLM`` with
``enable_lora`` and one ``LoRARequest`` per adapter, so LoRA deployments of a base share it as they do
with PEFT; the batcher hands it each batch, and vLLM's own scheduler runs the rows together. Text arrives
per request when its batch finishes (no per-token streaming on this path). Beam search maps to greedy.
"""

from __future__ import annotations

from typing import Any

from worker.evaluation.generation import render_prompt
from worker.serving.requests import BASE, ModelLoadFailed, Request, apply_stop


class VllmEngine:
    def __init__(self, base_path: str, *, trust_remote_code: bool, max_lora_rank: int = 64) -> None:
        try:
            from vllm import LLM
        except ImportError as exc:  # the extra is not installed
            raise ModelLoadFailed(
                f"vLLM is not installed ({exc}); pip install 'ftstudio[serve-vllm]'"
            ) from None
        try:
            self.llm = LLM(
                model=base_path,
                trust_remote_code=trust_remote_code,
                enable_lora=True,
                max_loras=8,
                max_lora_rank=max_lora_rank,
            )
        except Exception as exc:  # noqa: BLE001 - vLLM raises many kinds; the message is what users need
            raise ModelLoadFailed(f"vLLM could not load {base_path!r}: {exc}") from None
        self.tokenizer = self.llm.get_tokenizer()
        self.adapters: dict[str, tuple[int, str]] = {}
        self._next_id = 1

    def add_adapter(self, name: str, folder: str) -> None:
        self.adapters[name] = (self._next_id, folder)
        self._next_id += 1

    def remove_adapter(self, name: str) -> None:
        self.adapters.pop(name, None)

    def chat_prompt(self, messages: list[dict[str, str]]) -> tuple[str, bool]:
        return render_prompt(self.tokenizer, messages)

    def _sampling(self, request: Request) -> Any:
        from vllm import SamplingParams

        s = request.settings
        return SamplingParams(
            n=request.n if s.num_beams == 1 else max(request.n, s.num_return_sequences),
            temperature=s.temperature if s.do_sample else 0.0,
            top_p=s.top_p if s.do_sample else 1.0,
            top_k=(s.top_k or -1) if s.do_sample else -1,
            max_tokens=s.max_new_tokens,
            min_tokens=s.min_new_tokens,
            repetition_penalty=s.repetition_penalty,
            stop=request.stop or None,
            seed=s.seed,
        )

    def run_batch(self, requests: list[Request]) -> None:
        try:
            from vllm.lora.request import LoRARequest

            loras = []
            for r in requests:
                if r.adapter == BASE or r.adapter not in self.adapters:
                    loras.append(None)
                else:
                    lora_id, folder = self.adapters[r.adapter]
                    loras.append(LoRARequest(r.adapter, lora_id, folder))
            outputs = self.llm.generate(
                [r.prompt for r in requests],
                [self._sampling(r) for r in requests],
                lora_request=loras,
                use_tqdm=False,
            )
            for request, output in zip(requests, outputs, strict=True):
                request.prompt_tokens = len(output.prompt_token_ids or [])
                completion = 0
                for i, choice in enumerate(output.outputs):
                    text, reason = apply_stop(choice.text, request.stop)
                    completion += len(choice.token_ids)
                    request.emit(i, text, reason or choice.finish_reason or "stop")
                request.finish({"prompt_tokens": request.prompt_tokens, "completion_tokens": completion})
        except Exception as exc:  # noqa: BLE001 - reported per request, the server stays up
            for request in requests:
                request.fail(f"{type(exc).__name__}: {exc}")
