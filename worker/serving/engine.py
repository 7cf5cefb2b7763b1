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

from pathlib import Path
from typing import Any

from worker.evaluation.generation import drop_cut_character, prepare_tokenizer, render_prompt
from worker.serving.kv_cache import merge_cache, mergeable
from worker.serving.requests import (
    BASE,
    Admit,
    ModelLoadFailed,
    Request,
    Row,
    RowText,
    apply_stop,
    finish_requests,
)
from worker.serving.sampling import choose_token


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
        self.row_text = RowText(
            lambda tokens: self.tokenizer.decode(tokens, skip_special_tokens=True), self.eos_ids
        )
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
            text, reason = apply_stop(text, request.stop)
            if reason is None and len(tokens) >= request.settings.max_new_tokens:
                text, reason = drop_cut_character(text), "length"
            request.emit(i, text, reason or "stop")
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
                tokens = [choose_token(row, logits[b], self.eos_ids) for b, row in enumerate(rows)]
                for row, token in zip(rows, tokens, strict=True):
                    self.row_text.advance(row, token)
                finish_requests(open_requests, all_rows)
                keep = [b for b, row in enumerate(rows) if not row.done]
                room = self.max_rows - len(keep)
                new = admit(room) if admit is not None and room > 0 and mergeable(cache) else []
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
                        mask = merge_cache(cache, mask, new_cache, new_mask)
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
