"""quality.py's held-out items and their scoring: the seeded split by dialogue, the first or a later
counsellor reply of each held-out dialogue as (prompt messages, reference), greedy answers of a trained
folder, and BLEU-4 / ROUGE-L from the project's own scorer. Used by quality.py and quality_turns.py.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# benchmarks/datasets.py would pass for the `datasets` library that transformers imports.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(REPO))

Item = tuple[list[dict], str]  # (prompt messages, reference reply)


def split(path: Path, heldout: int, seed: int) -> tuple[list[dict], list[dict]]:
    """Dialogues to train on, and the held-out ones (by dialogue, seeded)."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    random.Random(seed).shuffle(rows)
    return rows[heldout:], rows[:heldout]


def first_turns(heldout: list[dict]) -> list[Item]:
    """(prompt messages, reference) of each held-out dialogue's first counsellor reply."""
    test = []
    for row in heldout:
        msgs = row["messages"]
        first_user = next(i for i, m in enumerate(msgs) if m["role"] == "user")
        test.append((msgs[: first_user + 1], msgs[first_user + 1]["content"]))
    return test


def later_turns(heldout: list[dict], tokenizer: Any, seed: int, context_tokens: int) -> list[Item]:
    """(prompt messages, reference) of one later counsellor reply per held-out dialogue (the third or a
    later one, seeded), the prompt cut to whole recent exchanges that fit in ``context_tokens``."""
    from worker.evaluation.generation import render_prompt

    rng = random.Random(seed)
    test = []
    for row in heldout:
        msgs = row["messages"]
        replies = [
            i
            for i, m in enumerate(msgs)
            if m["role"] == "assistant" and i > 0 and msgs[i - 1]["role"] == "user"
        ]
        if len(replies) < 3:
            continue
        at = rng.choice(replies[2:])
        system = [m for m in msgs[:1] if m["role"] == "system"]
        context = msgs[len(system) : at]
        # Drop the oldest exchange (a user turn and the reply after it) until the prompt fits; the last
        # user turn always stays.
        while len(context) > 1:
            prompt, _ = render_prompt(tokenizer, system + context)
            if len(tokenizer(prompt, add_special_tokens=False)["input_ids"]) <= context_tokens:
                break
            context = context[2:] if len(context) > 2 else context[-1:]
        test.append((system + context, msgs[at]["content"]))
    return test


def generate(model_dir: str, base: str, test: list[Item], max_new_tokens: int) -> list[str]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from worker.evaluation.generation import generate_texts, render_prompt, resolve_generation

    path = Path(model_dir)
    if (path / "adapter_config.json").is_file():
        from peft import PeftModel

        net = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32), path)
        net = net.merge_and_unload()
    else:
        net = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(base)
    prompts = [render_prompt(tok, msgs)[0] for msgs, _ in test]
    settings = resolve_generation("greedy", {"max_new_tokens": max_new_tokens})
    return [t[0] for t in generate_texts(net, tok, prompts, settings, batch_size=8)]


def score(predictions: list[str], references: list[str]) -> dict[str, Any]:
    from worker.evaluation.text_metrics import bleu_scores, rouge_scores

    bleu = bleu_scores(predictions, references, tokenization="char", smoothing="method3")
    rouge = rouge_scores(predictions, references)
    return {
        "bleu4": bleu["sentence"]["bleu4"], "rouge_l": rouge["rouge-l"],
        "per_item": {"bleu4": bleu["per_item"]["bleu4"], "rouge_l": rouge["per_item"]["rouge-l"]},
    }  # fmt: skip


def heldout_items(turn: str, heldout: list[dict], model: str, seed: int, context_tokens: int) -> list[Item]:
    """The items a run scores: first turns, or later turns whose prompt fits in ``context_tokens``."""
    if turn == "first":
        return first_turns(heldout)
    from transformers import AutoTokenizer

    return later_turns(heldout, AutoTokenizer.from_pretrained(model), seed, context_tokens)
