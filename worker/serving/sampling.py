"""The next token of one row from its last logits: min-tokens, repetition penalty, greedy or
temperature / top-k / top-p sampling, the same order and arithmetic as transformers' logits processors
(RepetitionPenaltyLogitsProcessor, TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper).
"""

from __future__ import annotations

from typing import Any

from worker.serving.requests import Row


def choose_token(row: Row, logits: Any, eos_ids: set[int]) -> int:
    """The row's next token; ``logits`` (one row, float) is changed in place."""
    import torch

    s = row.request.settings
    if len(row.tokens) < s.min_new_tokens:
        logits[list(eos_ids)] = -float("inf")
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
