"""One base model in memory, any number of LoRA adapters on it, and a step-by-step decoder that runs a
batch of requests together and streams each row's text as it is produced (torch / transformers / peft).

Why a hand-written decoding loop rather than ``generate`` + ``TextIteratorStreamer``: the streamer only
handles a batch of one, and batching concurrent requests is the point. The loop is the same arithmetic as
``generate``'s sampling/greedy path (left-padded prefill with explicit position ids, then one token per
step against the KV cache), with per-row temperature, top-p, top-k, seed and stop strings. Beam search
and ``no_repeat_ngram_size`` (the course's preset) go to ``generate`` itself, one request at a time,
because they cannot share a batch with sampling rows.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from worker.evaluation.generation import GenerationSettings, prepare_tokenizer, render_prompt

BASE = "__base__"  # the adapter name meaning "the base model, adapters off"


@dataclass
class Row:
    """One sequence being generated (a request with n=2 has two rows)."""

    request: Request
    index: int
    generator: Any = None
    prompt_ids: list[int] = field(default_factory=list)  # for the repetition penalty
    tokens: list[int] = field(default_factory=list)
    sent: str = ""
    done: bool = False
    finish_reason: str | None = None


@dataclass
class Request:
    """A prompt to continue. ``emit(index, text_delta, finish_reason)`` is called from the decoding
    thread for every piece of text; ``finish(usage)`` once at the end; ``fail(message)`` on error."""

    adapter: str
    prompt: str
    templated: bool
    settings: GenerationSettings
    stop: list[str]
    emit: Callable[[int, str, str | None], None]
    finish: Callable[[dict[str, int]], None]
    fail: Callable[[str], None]
    n: int = 1  # rows to generate (OpenAI's n; greedy n>1 repeats the same row)
    prompt_tokens: int = 0
    cancelled: threading.Event = field(default_factory=threading.Event)

    @property
    def batchable(self) -> bool:
        s = self.settings
        return s.num_beams == 1 and s.no_repeat_ngram_size == 0


class ModelLoadFailed(RuntimeError):
    pass


class Engine:
    """Holds the model. Adapters are added and removed by name; ``run_batch`` serves one adapter's rows."""

    def __init__(
        self, base_path: str, *, gguf_file: str | None, trust_remote_code: bool, device: str
    ) -> None:
        from worker.evaluation.loading import ModelLoadError, load_for_eval

        try:
            self.model, self.tokenizer = load_for_eval(
                base_path, gguf_file=gguf_file, trust_remote_code=trust_remote_code, device=device
            )
        except ModelLoadError as exc:
            raise ModelLoadFailed(str(exc)) from None
        prepare_tokenizer(self.tokenizer)
        self.tokenizer.truncation_side = "left"
        self.device = device
        self.adapters: dict[str, str] = {}  # name -> folder
        self.eos_ids = self._eos_ids()
        self.max_prompt_tokens = 4096
        self.max_rows = 16  # rows decoded together at most (the batcher sets it)

    def _eos_ids(self) -> set[int]:
        ids: set[int] = set()
        for value in (
            self.tokenizer.eos_token_id,
            getattr(self.model.generation_config, "eos_token_id", None),
        ):
            if isinstance(value, int):
                ids.add(value)
            elif isinstance(value, list | tuple):
                ids.update(int(v) for v in value)
        # Chat models end a turn with a template token that is not always declared as eos.
        for token in ("<|im_end|>", "<|eot_id|>", "<|end|>"):
            tid = self.tokenizer.convert_tokens_to_ids(token) if token in self.tokenizer.get_vocab() else None
            if isinstance(tid, int):
                ids.add(tid)
        return ids

    # --- adapters ----------------------------------------------------------------------------------
    def add_adapter(self, name: str, folder: str) -> None:
        """Load a PEFT adapter beside the others. The first one wraps the base in a PeftModel."""
        if not Path(folder, "adapter_config.json").is_file():
            raise ModelLoadFailed(f"{folder!r} is not a PEFT adapter folder (no adapter_config.json)")
        from peft import PeftModel

        try:
            if isinstance(self.model, PeftModel):
                self.model.load_adapter(folder, adapter_name=name)
            else:
                self.model = PeftModel.from_pretrained(self.model, folder, adapter_name=name)
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            raise ModelLoadFailed(f"could not load the adapter {folder!r}: {exc}") from None
        self.model.to(self.device)
        self.model.eval()
        self.adapters[name] = folder

    def remove_adapter(self, name: str) -> None:
        if name not in self.adapters:
            return
        del self.adapters[name]
        if not self.adapters:
            # The last one: give the plain base back (PEFT keeps pointing at a deleted active adapter).
            self.model = self.model.unload()
            self.model.eval()
            return
        self.model.delete_adapter(name)
        self.model.set_adapter(next(iter(self.adapters)))

    def _use(self, adapter: str):  # type: ignore[no-untyped-def]
        """A context in which the model is the base (adapters off) or the named adapter."""
        import contextlib

        wrapped = hasattr(self.model, "peft_config")  # a PeftModel, even after its last adapter left
        if adapter == BASE or not self.adapters:
            return self.model.disable_adapter() if wrapped else contextlib.nullcontext()
        self.model.set_adapter(adapter)
        return contextlib.nullcontext()

    # --- prompts -----------------------------------------------------------------------------------
    def chat_prompt(self, messages: list[dict[str, str]]) -> tuple[str, bool]:
        return render_prompt(self.tokenizer, messages)

    def count_tokens(self, text: str, templated: bool) -> int:
        return len(self.tokenizer(text, add_special_tokens=not templated)["input_ids"])

    # --- generation --------------------------------------------------------------------------------
    def run_batch(self, requests: list[Request], admit: Admit | None = None) -> None:
        """Serve requests that share an adapter. ``admit(room)`` is asked between steps for more requests
        of the same kind (continuous batching); admitted ones join ``requests``. Errors are reported to
        each request, never raised."""
        try:
            with self._use(requests[0].adapter):
                if len(requests) == 1 and not requests[0].batchable:
                    self._run_generate(requests[0])
                else:
                    self._run_steps(requests, admit)
        except Exception as exc:  # noqa: BLE001 - one bad batch must not kill the server
            for request in requests:
                request.fail(f"{type(exc).__name__}: {exc}")

    def _encode(self, prompts: list[str], templated: bool) -> Any:
        return self.tokenizer(
            prompts,
            return_tensors="pt",
            padding=True,
            truncation=True,
            max_length=self.max_prompt_tokens,
            add_special_tokens=not templated,
        ).to(self.model.device)

    def _run_generate(self, request: Request) -> None:
        """Beam search / no-repeat-ngram: transformers' own generate; the whole text arrives at the end."""
        import torch

        enc = self._encode([request.prompt], request.templated)
        request.prompt_tokens = int(enc["attention_mask"].sum())
        if request.settings.seed is not None:
            torch.manual_seed(request.settings.seed)
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=enc["input_ids"],
                attention_mask=enc["attention_mask"],
                pad_token_id=self.tokenizer.pad_token_id,
                eos_token_id=sorted(self.eos_ids) or None,
                **request.settings.generate_kwargs(),
            )
        completion = 0
        for i, seq in enumerate(out[:, enc["input_ids"].shape[1] :].tolist()):
            tokens = [t for t in seq if t not in self.eos_ids and t != self.tokenizer.pad_token_id]
            completion += len(tokens)
            text = self.tokenizer.decode(tokens, skip_special_tokens=True)
            text, reason = _apply_stop(text, request.stop)
            request.emit(
                i, text, reason or ("length" if len(tokens) >= request.settings.max_new_tokens else "stop")
            )
        request.finish({"prompt_tokens": request.prompt_tokens, "completion_tokens": completion})

    def _prefill(self, requests: list[Request]) -> tuple[list[Row], Any, Any, Any, Any]:
        """Rows of the requests, their first logits, KV cache, attention mask and last positions."""
        import torch

        rows: list[Row] = []
        prompts: list[str] = []
        for request in requests:
            for i in range(request.n):
                gen = None
                if request.settings.do_sample:
                    gen = torch.Generator(device="cpu")
                    seed = request.settings.seed
                    gen.manual_seed(seed + i if seed is not None else int(torch.randint(0, 2**62, (1,))))
                rows.append(Row(request=request, index=i, generator=gen))
                prompts.append(request.prompt)
        enc = self._encode(prompts, requests[0].templated)
        ids, mask = enc["input_ids"], enc["attention_mask"]
        for b, row in enumerate(rows):
            row.prompt_ids = ids[b][mask[b] == 1].tolist()
            row.request.prompt_tokens = len(row.prompt_ids)
        position = (mask.cumsum(-1) - 1).clamp(min=0)
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=position, use_cache=True)
        return rows, out.logits[:, -1, :].float(), out.past_key_values, mask, position[:, -1:]

    def _run_steps(self, requests: list[Request], admit: Admit | None = None) -> None:
        """Decode step by step. Finished rows leave the batch (their cache rows are dropped) and, when the
        cache allows it, newly arrived requests join it between steps (prefilled, then left-padded to the
        batch's length), so a request arriving mid-batch does not wait for the whole batch to end."""
        import torch

        with torch.inference_mode():
            rows, logits, cache, mask, position = self._prefill(requests)
            open_requests = {id(r): r for r in requests}
            all_rows: dict[int, list[Row]] = {}
            for row in rows:
                all_rows.setdefault(id(row.request), []).append(row)
            while True:
                tokens = [self._choose(row, logits[b]) for b, row in enumerate(rows)]
                for row, token in zip(rows, tokens, strict=True):
                    self._advance(row, token)
                self._finish_requests(open_requests, all_rows)
                keep = [b for b, row in enumerate(rows) if not row.done]
                room = self.max_rows - len(keep)
                new = admit(room) if admit is not None and room > 0 and _mergeable(cache) else []
                if not keep and not new:
                    break
                if keep:
                    if len(keep) < len(rows):
                        index = torch.tensor(keep, device=mask.device)
                        cache.batch_select_indices(index)
                        mask, position = mask[index], position[index]
                        rows, tokens = [rows[b] for b in keep], [tokens[b] for b in keep]
                    step = torch.tensor(tokens, device=mask.device).unsqueeze(1)
                    mask = torch.cat([mask, torch.ones_like(step)], dim=1)
                    position = position + 1
                    out = self.model(
                        input_ids=step,
                        attention_mask=mask,
                        position_ids=position,
                        past_key_values=cache,
                        use_cache=True,
                    )
                    logits, cache = out.logits[:, -1, :].float(), out.past_key_values
                if new:
                    requests.extend(new)
                    new_rows, new_logits, new_cache, new_mask, new_position = self._prefill(new)
                    for request in new:
                        open_requests[id(request)] = request
                    for row in new_rows:
                        all_rows.setdefault(id(row.request), []).append(row)
                    if keep:
                        mask = _merge_cache(cache, mask, new_cache, new_mask)
                        rows = rows + new_rows
                        logits = torch.cat([logits, new_logits])
                        position = torch.cat([position, new_position])
                    else:
                        rows, logits, cache, mask, position = (
                            new_rows,
                            new_logits,
                            new_cache,
                            new_mask,
                            new_position,
                        )

    def _finish_requests(self, open_requests: dict[int, Request], all_rows: dict[int, list[Row]]) -> None:
        for key, request in list(open_requests.items()):
            rows = all_rows[key]
            if all(r.done for r in rows):
                completion = sum(len(r.tokens) for r in rows)
                request.finish({"prompt_tokens": request.prompt_tokens, "completion_tokens": completion})
                del open_requests[key]

    def _choose(self, row: Row, logits: Any) -> int:
        import torch

        s = row.request.settings
        if len(row.tokens) < s.min_new_tokens:
            logits[list(self.eos_ids)] = -float("inf")
        if s.repetition_penalty != 1.0:
            previous = torch.tensor(sorted(set(row.prompt_ids) | set(row.tokens)), device=logits.device)
            values = logits[previous]
            logits[previous] = torch.where(
                values > 0, values / s.repetition_penalty, values * s.repetition_penalty
            )
        if not s.do_sample:
            return int(torch.argmax(logits))
        logits = logits / s.temperature
        if s.top_k > 0:
            kth = torch.topk(logits, min(s.top_k, logits.shape[-1])).values[-1]
            logits[logits < kth] = -float("inf")
        probs = torch.softmax(logits, dim=-1)
        if s.top_p < 1.0:
            sorted_probs, order = torch.sort(probs, descending=True)
            cumulative = torch.cumsum(sorted_probs, dim=-1)
            drop = cumulative - sorted_probs > s.top_p  # keep the smallest set whose mass reaches top_p
            sorted_probs[drop] = 0.0
            probs = torch.zeros_like(probs).scatter(0, order, sorted_probs)
        return int(torch.multinomial(probs.cpu(), 1, generator=row.generator))

    def _advance(self, row: Row, token: int) -> None:
        request = row.request
        if request.cancelled.is_set():
            row.done, row.finish_reason = True, "cancelled"
            return
        if token in self.eos_ids:
            self._finish_row(row, "stop")
            return
        row.tokens.append(token)
        text = self.tokenizer.decode(row.tokens, skip_special_tokens=True)
        cut, reason = _apply_stop(text, request.stop)
        if reason:
            self._emit(row, cut[len(row.sent) :])
            row.sent = cut
            row.done, row.finish_reason = True, "stop"
            request.emit(row.index, "", "stop")
            return
        if len(row.tokens) >= request.settings.max_new_tokens:
            self._emit(row, text[len(row.sent) :])
            row.sent = text
            self._finish_row(row, "length")
            return
        # Hold back an unfinished UTF-8 character and any tail that might be the start of a stop string.
        safe = len(text) - _held_back(text, request.stop)
        if safe > len(row.sent):
            self._emit(row, text[len(row.sent) : safe])
            row.sent = text[:safe]

    def _emit(self, row: Row, delta: str) -> None:
        if delta:
            row.request.emit(row.index, delta, None)

    def _finish_row(self, row: Row, reason: str) -> None:
        text = self.tokenizer.decode(row.tokens, skip_special_tokens=True)
        if reason == "stop" or reason == "length":
            cut, _ = _apply_stop(text, row.request.stop)
            self._emit(row, cut[len(row.sent) :])
            row.sent = cut
        row.done, row.finish_reason = True, reason
        row.request.emit(row.index, "", reason)


def _apply_stop(text: str, stop: list[str]) -> tuple[str, str | None]:
    """Text cut before the first stop string, and "stop" when one was found."""
    cut = min((text.find(s) for s in stop if s and s in text), default=-1)
    return (text[:cut], "stop") if cut >= 0 else (text, None)


def _held_back(text: str, stop: list[str]) -> int:
    """How many trailing characters to keep unsent: a half-decoded character, or a possible stop prefix."""
    if text.endswith("\ufffd"):
        return len(text) - len(text.rstrip("\ufffd"))
    longest = 0
    for s in stop:
        for k in range(min(len(s) - 1, len(text)), 0, -1):
            if text.endswith(s[:k]):
                longest = max(longest, k)
                break
    return longest


Admit = Callable[[int], list[Request]]


def _mergeable(cache: Any) -> bool:
    """Only plain dynamic caches can be padded and joined (sliding-window or static caches cannot)."""
    layers = getattr(cache, "layers", None)
    return (
        type(cache).__name__ == "DynamicCache"
        and bool(layers)
        and all(type(layer).__name__ == "DynamicLayer" and layer.keys is not None for layer in layers)
    )


def _merge_cache(cache: Any, mask: Any, new_cache: Any, new_mask: Any) -> Any:
    """Append ``new_cache``'s rows to ``cache`` in place, left-padding the shorter one with masked zeros;
    returns the joined attention mask."""
    import torch

    length = max(mask.shape[1], new_mask.shape[1])

    def left_pad(t: Any, missing: int, dim: int) -> Any:
        if missing == 0:
            return t
        shape = list(t.shape)
        shape[dim] = missing
        return torch.cat([torch.zeros(shape, dtype=t.dtype, device=t.device), t], dim=dim)

    a, b = length - mask.shape[1], length - new_mask.shape[1]
    for old, new in zip(cache.layers, new_cache.layers, strict=True):
        old.keys = torch.cat([left_pad(old.keys, a, -2), left_pad(new.keys, b, -2)])
        old.values = torch.cat([left_pad(old.values, a, -2), left_pad(new.values, b, -2)])
    return torch.cat([left_pad(mask, a, 1), left_pad(new_mask, b, 1)])
