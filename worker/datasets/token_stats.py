"""Token lengths of a dataset and the loss-mask preview of one row, with the base model's own tokenizer.

Both go through exactly the code the training child uses (worker.training: load_tokenizer, the chat
template choice, exchanges/to_example for assistant-only labels, build_examples for max_seq_length), so
what the studio shows is what training will do: the same tokens, the same labels, the same windows.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

from app.jobs.hyperparameters import TrainHyperparameters
from worker.training.chat_data import IGNORE_INDEX, check_messages, exchanges, to_example
from worker.training.windows import build_examples

PERCENTILES = (50, 90, 95, 99)
MAX_LISTED_IDS = 1000  # ids of over-long rows listed for review; the count is always complete


@functools.lru_cache(maxsize=4)
def _tokenizer(tokenizer_path: str, chat_template: str, trust_remote_code: bool) -> Any:
    """Load once per (model, template): the preview is asked for row after row while the user pages."""
    from worker.training.config import BaseModelSpec
    from worker.training.model_loading import load_tokenizer
    from worker.training.templates import choose_chat_template

    tokenizer = load_tokenizer(BaseModelSpec(path=tokenizer_path, trust_remote_code=trust_remote_code))
    choose_chat_template(tokenizer, chat_template, _model_type(tokenizer_path, trust_remote_code))
    return tokenizer


def _model_type(path: str, trust_remote_code: bool) -> str | None:
    """Architecture name, only to guess a fallback template (as sft.py does); None for a bare tokenizer."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code).model_type
    except (OSError, ValueError):
        return None


def _percentile(ordered: list[int], q: float) -> int:
    """Nearest-rank percentile (the smallest value with at least q % of values at or below it)."""
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def _histogram(values: list[int], bins: int, max_seq_length: int) -> dict:
    # Equal-width bins from 0 to the larger of the longest row and max_seq_length, so the limit is on the
    # chart's axis; bin k holds edges[k] <= v < edges[k + 1], the last bin also its upper edge.
    top = max(max(values), max_seq_length)
    width = max(1, math.ceil((top + 1) / bins))
    counts = [0] * bins
    for v in values:
        counts[min(v // width, bins - 1)] += 1
    return {"edges": [k * width for k in range(bins + 1)], "counts": counts}


def token_length_stats(
    rows: list[dict],
    tokenizer_path: str,
    *,
    max_seq_length: int,
    bins: int = 20,
    chat_template: str = "auto",
    trust_remote_code: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Token length of every row rendered through the chat template, and what max_seq_length does to it.

    Returns {"rows", "max_seq_length", "lengths": {"mean", "min", "max", "p50", "p90", "p95", "p99"},
    "trained_tokens", "num_over_max", "share_over_max", "over_max_ids" (first 1000), "num_examples",
    "num_truncated", "num_empty", "histogram": {"edges", "counts"}}.
    `progress(done, total)` is called every 200 rows (for the job).
    """
    if max_seq_length < 2:
        raise ValueError("max_seq_length must be at least 2")
    if bins < 1:
        raise ValueError("bins must be at least 1")
    if not rows:
        raise ValueError("no rows to measure")
    tokenizer = _tokenizer(tokenizer_path, chat_template, trust_remote_code)
    lengths: list[int] = []
    trained = num_examples = num_truncated = num_empty = 0
    for done, row in enumerate(rows, start=1):
        messages = check_messages(row.get("messages"), f"row {row.get('id', done)}")
        parts = exchanges(tokenizer, messages)
        whole = to_example(parts)
        lengths.append(len(whole))
        if len(whole) <= max_seq_length:
            made = [whole] if whole.num_trained else []
            num_empty += not made
        else:
            # Only over-long rows pay for windowing; this is the training child's own function.
            made, stats = build_examples([messages], tokenizer, max_seq_length)
            num_truncated += stats.num_truncated
            num_empty += stats.num_empty
        num_examples += len(made)
        trained += sum(example.num_trained for example in made)
        if progress is not None and (done % 200 == 0 or done == len(rows)):
            progress(done, len(rows))
    ordered = sorted(lengths)
    over_ids = [
        row.get("id", k) for k, (row, n) in enumerate(zip(rows, lengths, strict=True)) if n > max_seq_length
    ]
    over = len(over_ids)
    return {
        "rows": len(rows),
        "max_seq_length": max_seq_length,
        "lengths": {
            "mean": round(sum(lengths) / len(lengths), 2),
            "min": ordered[0],
            "max": ordered[-1],
            **{f"p{q}": _percentile(ordered, q) for q in PERCENTILES},
        },  # fmt: skip
        "trained_tokens": trained,
        "num_over_max": over,
        "share_over_max": round(over / len(lengths), 4),
        "over_max_ids": over_ids[:MAX_LISTED_IDS],
        "num_examples": num_examples,
        "num_truncated": num_truncated,
        "num_empty": num_empty,
        "histogram": _histogram(lengths, bins, max_seq_length),
    }


def _pieces(tokenizer: Any, ids: list[int], labels: list[int], window: int) -> list[dict]:
    """Readable pieces: byte-level tokens that split one character are merged until they decode whole
    (never across a loss boundary), so Chinese shows as characters, not as U+FFFD halves."""
    out: list[dict] = []
    pending: list[int] = []
    for k, token_id in enumerate(ids):
        pending.append(token_id)
        carries = labels[k] != IGNORE_INDEX
        text = tokenizer.decode(pending, skip_special_tokens=False, clean_up_tokenization_spaces=False)
        boundary = k + 1 == len(ids) or (labels[k + 1] != IGNORE_INDEX) != carries
        if text.endswith("\ufffd") and not boundary and len(pending) < 4:
            continue  # an incomplete UTF-8 sequence (at most 4 bytes): wait for the rest
        out.append({"text": text, "ids": pending, "carries_loss": carries, "window": window})
        pending = []
    return out


def render_loss_preview(
    row: dict,
    tokenizer_path: str,
    *,
    max_seq_length: int,
    chat_template: str = "auto",
    trust_remote_code: bool = False,
    split_long_dialogues: bool = TrainHyperparameters.model_fields["split_long_dialogues"].default,
) -> list[dict]:
    """One row as the training child will see it: [{"text", "ids", "carries_loss", "window"}], in order.

    `window` numbers the training sequences a row longer than max_seq_length becomes (0 when it fits).
    """
    if max_seq_length < 2:
        raise ValueError("max_seq_length must be at least 2")
    tokenizer = _tokenizer(tokenizer_path, chat_template, trust_remote_code)
    messages = check_messages(row.get("messages"), f"row {row.get('id', '?')}")
    examples, _ = build_examples(
        [messages], tokenizer, max_seq_length, split_long_dialogues=split_long_dialogues
    )
    pieces: list[dict] = []
    for window, example in enumerate(examples):
        pieces += _pieces(tokenizer, example.input_ids, example.labels, window)
    return pieces
