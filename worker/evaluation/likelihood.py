"""Score candidate continuations by log-probability in batched forward passes (torch).

``score_candidates(model, tokenizer, prompts, candidate_texts)`` returns, for every prompt, the summed
log-probability of every candidate continuation. Three forward passes per batch, whatever the number of
candidates:

1. the token prefix the prompts share (instruction, chat-template header, the same k-shot examples), ONCE;
2. each prompt's own suffix on top of that cache (right-padded; positions are counted from real tokens, so a
   padded row gets the same positions as alone), reading the next-token distribution at each row's last real
   token;
3. the cache repeated per candidate, and all candidates' tokens in one short pass.

With little or no shared prefix, pass 1 and 2 are a single left-padded pass. Summed (not length-normalised)
log-probability is the standard for closed answer sets (the lm-evaluation-harness ``acc`` metric).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# Below this many shared tokens one left-padded pass is as cheap as sharing.
MIN_SHARED_PREFIX = 8


def _common_prefix_len(seqs: list[list[int]]) -> int:
    n = min(len(s) for s in seqs)
    for i in range(n):
        t = seqs[0][i]
        if any(s[i] != t for s in seqs[1:]):
            return i
    return n


def _first_pass_left_padded(model: Any, ids: list[list[int]], pad_id: int) -> tuple[Any, Any, Any, Any]:
    """-> (next-token log-probs (B, V), cache, attention mask (B, L), real lengths (B,))."""
    import torch

    width = max(len(x) for x in ids)
    input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for i, x in enumerate(ids):
        input_ids[i, width - len(x) :] = torch.tensor(x)
        mask[i, width - len(x) :] = 1
    input_ids, mask = input_ids.to(model.device), mask.to(model.device)
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    out = model(input_ids=input_ids, attention_mask=mask, position_ids=pos, use_cache=True, logits_to_keep=1)
    first = torch.log_softmax(out.logits[:, -1].float(), dim=-1)  # left padding: the last column is real
    return first, out.past_key_values, mask, mask.sum(-1)


def _first_pass_shared(model: Any, ids: list[list[int]], p: int, pad_id: int) -> tuple[Any, Any, Any, Any]:
    """Same outputs as the left-padded pass, computing the shared ``p``-token prefix once."""
    import torch

    dev = model.device
    b = len(ids)
    cache = model(
        input_ids=torch.tensor([ids[0][:p]], device=dev), use_cache=True, logits_to_keep=1
    ).past_key_values
    cache.batch_repeat_interleave(b)
    suffixes = [x[p:] for x in ids]
    width = max(len(s) for s in suffixes)
    sfx = torch.full((b, width), pad_id, dtype=torch.long)
    sfx_mask = torch.zeros((b, width), dtype=torch.long)
    for i, s in enumerate(suffixes):
        sfx[i, : len(s)] = torch.tensor(s)
        sfx_mask[i, : len(s)] = 1
    sfx, sfx_mask = sfx.to(dev), sfx_mask.to(dev)
    mask = torch.cat([torch.ones((b, p), dtype=torch.long, device=dev), sfx_mask], dim=1)
    pos = p + torch.arange(width, device=dev).unsqueeze(0).expand(b, -1)
    last = sfx_mask.sum(-1) - 1  # each row's last real suffix token
    keep = torch.unique(last)  # logits only where some row ends (the vocab projection is the costly part)
    out = model(
        input_ids=sfx,
        attention_mask=mask,
        position_ids=pos,
        past_key_values=cache,
        use_cache=True,
        logits_to_keep=keep,
    )
    col = torch.searchsorted(keep, last)
    logits = out.logits[torch.arange(b, device=dev), col]
    return torch.log_softmax(logits.float(), dim=-1), out.past_key_values, mask, p + sfx_mask.sum(-1)


def score_candidates(
    model: Any,
    tokenizer: Any,
    prompts: list[str],
    candidate_texts: Sequence[str],
    *,
    add_special_tokens: bool = False,
    share_prefix: bool = True,
) -> Any:
    """Summed log-probability of every candidate text after every prompt: a (len(prompts), C) float tensor.

    Prompts and candidates are tokenised separately and concatenated (so a candidate's tokens do not depend on
    the prompt's last characters); ``add_special_tokens`` applies to the prompts only."""
    import torch

    if not prompts or not candidate_texts:
        raise ValueError("score_candidates needs at least one prompt and one candidate")
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    ids = [tokenizer(p, add_special_tokens=add_special_tokens)["input_ids"] for p in prompts]
    cand = [tokenizer(c, add_special_tokens=False)["input_ids"] for c in candidate_texts]
    if any(not c for c in cand) or any(not x for x in ids):
        raise ValueError("a prompt or candidate tokenises to nothing")
    n_c, t_max, b = len(cand), max(len(c) for c in cand), len(ids)
    cand_ids = torch.full((n_c, t_max), pad_id, dtype=torch.long)
    cand_mask = torch.zeros((n_c, t_max), dtype=torch.long)
    for j, c in enumerate(cand):
        cand_ids[j, : len(c)] = torch.tensor(c)
        cand_mask[j, : len(c)] = 1
    # Keep one token of every prompt out of the shared prefix: each row needs its own last-token logits.
    p = min(_common_prefix_len(ids), min(len(x) for x in ids) - 1) if share_prefix and b > 1 else 0
    with torch.inference_mode():
        if p >= MIN_SHARED_PREFIX:
            first, cache, mask, n_real = _first_pass_shared(model, ids, p, pad_id)
        else:
            first, cache, mask, n_real = _first_pass_left_padded(model, ids, pad_id)
        scores = first[:, cand_ids[:, 0].to(first.device)]  # (B, C)
        if t_max == 1:
            return scores
        cache.batch_repeat_interleave(n_c)
        dev = mask.device
        ids2 = cand_ids[:, :-1].repeat(b, 1).to(dev)  # row r = (prompt r // C, candidate r % C)
        mask2 = torch.cat([mask.repeat_interleave(n_c, 0), cand_mask[:, :-1].repeat(b, 1).to(dev)], dim=1)
        pos2 = n_real.repeat_interleave(n_c).unsqueeze(1) + torch.arange(t_max - 1, device=dev).unsqueeze(0)
        logits = model(
            input_ids=ids2, attention_mask=mask2, position_ids=pos2, past_key_values=cache, use_cache=True
        ).logits
        lp = torch.log_softmax(logits.float(), dim=-1)
        target = cand_ids[:, 1:].repeat(b, 1).to(lp.device)
        tok_lp = lp.gather(-1, target.unsqueeze(-1)).squeeze(-1) * cand_mask[:, 1:].repeat(b, 1).to(lp)
        return scores + tok_lp.sum(-1).view(b, n_c)
