"""Write the demo dataset `counselling_demo.jsonl` from the hand-written blocks, deterministically.

    python -m app.demo.make_demo_data            # rewrite the file
    python -m app.demo.make_demo_data --check    # exit 1 if the file differs from what this script makes

Each row is a normalised conversation (docs/CONTRACTS.md): an optional system prompt, then user and
assistant turns alternating, 1 to 4 exchanges. A seeded RNG composes the blocks; a candidate row whose
character-trigram Jaccard similarity to an accepted row reaches `MAX_JACCARD` is drawn again, so the set
holds no near-duplicates (the tests check the looser bound 0.8).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app.demo import DEMO_DATASET_PATH
from app.demo.counselling_blocks import (
    CLOSINGS,
    GENERIC_ASKS,
    INVITES,
    PUSHBACKS,
    SYSTEM_PROMPTS,
    TOPICS,
    VALIDATE,
)

SEED = 20261128
# How many conversations of each length (exchanges = user/assistant pairs): 150 + 70 * 3 = 360 rows.
PLAN: dict[int, int] = {1: 150, 2: 70, 3: 70, 4: 70}
SYSTEM_PROMPT_RATE = 0.35
MAX_JACCARD = 0.6
_MAX_DRAWS = 200
# In the low-mood topic, the answer to the self-harm question must be met with the safety suggestion.
_FORCED_SUGGESTION: dict[tuple[str, int], int] = {("low_mood", 3): 5}

Message = dict[str, str]
Row = dict[str, Any]


def char_trigrams(text: str) -> set[str]:
    """The set of character 3-grams of ``text`` (whitespace removed; Chinese has no word boundaries)."""
    compact = "".join(text.split())
    return {compact[i : i + 3] for i in range(len(compact) - 2)}


def jaccard(a: set[str], b: set[str]) -> float:
    """Jaccard similarity |a & b| / |a | b| (0.0 for two empty sets)."""
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def _below(a: set[str], b: set[str], limit: float) -> bool:
    # |a & b| / |a | b| <= min(|a|, |b|) / max(|a|, |b|): sets of very different sizes need no intersection.
    small, large = sorted((len(a), len(b)))
    return (large > 0 and small / large < limit) or jaccard(a, b) < limit


def row_text(row: Row) -> str:
    """All message contents of a row joined by newlines: what near-duplicate checks compare."""
    return "\n".join(m["content"] for m in row["messages"])


class _Composer:
    """Draws the pieces of one conversation; keeps a rotating queue of openings per topic for balance."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self._openings: dict[str, list[str]] = {topic: [] for topic in TOPICS}

    def opening(self, topic: str) -> tuple[str, str]:
        queue = self._openings[topic]
        if not queue:
            queue.extend(TOPICS[topic]["open"])
            self.rng.shuffle(queue)
        text, _, pronoun = queue.pop().partition("|")
        return text, pronoun or "他"

    def conversation(self, topic: str, exchanges: int) -> list[Message]:
        rng, blocks = self.rng, TOPICS[topic]
        opening, pronoun = self.opening(topic)
        suggestions = rng.sample(range(len(blocks["suggest"])), 2)
        messages: list[Message] = []
        if rng.random() < SYSTEM_PROMPT_RATE:
            messages.append({"role": "system", "content": rng.choice(SYSTEM_PROMPTS)})
        messages.append({"role": "user", "content": opening})
        reflect = rng.choice(blocks["reflect"])
        if exchanges == 1:
            reply = reflect + blocks["suggest"][suggestions[0]]
            if rng.random() < 0.5:
                reply += rng.choice(INVITES)
            messages.append({"role": "assistant", "content": reply})
            return _fill_pronoun(messages, pronoun)
        # Exchange 1: reflect and ask; exchange 2: the client answers, the counsellor validates and suggests.
        ask_index = rng.randrange(len(blocks["follow"]))
        asks = blocks["ask"]
        ask = asks[ask_index] if ask_index < len(asks) else rng.choice(GENERIC_ASKS)
        messages.append({"role": "assistant", "content": reflect + ask})
        messages.append({"role": "user", "content": blocks["follow"][ask_index]})
        forced = _FORCED_SUGGESTION.get((topic, ask_index))
        if forced is not None:
            suggestions = [forced, next(i for i in suggestions if i != forced)]
        advice = rng.choice(VALIDATE) + blocks["suggest"][suggestions[0]]
        messages.append({"role": "assistant", "content": advice})
        # Exchange 3 is a doubt (or, in a 3-exchange talk, sometimes the goodbye); exchange 4 the goodbye.
        with_doubt = exchanges == 4 or (exchanges == 3 and rng.random() < 0.6)
        if with_doubt:
            doubt, answer = rng.choice(PUSHBACKS)
            messages.append({"role": "user", "content": doubt})
            messages.append({"role": "assistant", "content": answer + blocks["suggest"][suggestions[1]]})
        if exchanges == 4 or (exchanges == 3 and not with_doubt):
            goodbye, farewell = rng.choice(CLOSINGS)
            messages.append({"role": "user", "content": goodbye})
            messages.append({"role": "assistant", "content": farewell})
        return _fill_pronoun(messages, pronoun)


def _fill_pronoun(messages: list[Message], pronoun: str) -> list[Message]:
    return [{"role": m["role"], "content": m["content"].replace("{ta}", pronoun)} for m in messages]


def build_rows(seed: int = SEED) -> list[Row]:
    """Compose the demo conversations; the same seed gives the same rows."""
    rng = random.Random(seed)
    composer = _Composer(rng)
    lengths = [n for n, count in PLAN.items() for _ in range(count)]
    rng.shuffle(lengths)
    topics = list(TOPICS)
    rows: list[Row] = []
    accepted: list[set[str]] = []
    for index, exchanges in enumerate(lengths):
        topic = topics[index % len(topics)]  # round robin keeps the topics balanced
        for _ in range(_MAX_DRAWS):
            messages = composer.conversation(topic, exchanges)
            grams = char_trigrams("\n".join(m["content"] for m in messages))
            if all(_below(grams, other, MAX_JACCARD) for other in accepted):
                break
        else:
            raise RuntimeError(f"could not draw a distinct {topic} conversation after {_MAX_DRAWS} tries")
        accepted.append(grams)
        rows.append({"id": f"demo-{index + 1:04d}-{topic}", "messages": messages})
    return rows


def render_jsonl(rows: Sequence[Row]) -> str:
    """One JSON object a line, UTF-8 characters kept readable (ensure_ascii=False)."""
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.demo.make_demo_data", description=__doc__)
    parser.add_argument("--out", type=Path, default=DEMO_DATASET_PATH, help="where to write the JSONL")
    parser.add_argument("--check", action="store_true", help="compare with the file instead of writing it")
    args = parser.parse_args(argv)
    text = render_jsonl(build_rows())
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.is_file() else None
        if current != text:
            print(f"{args.out} is out of date: run python -m app.demo.make_demo_data", file=sys.stderr)
            return 1
        print(f"{args.out} is up to date")
        return 0
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {text.count(chr(10))} rows to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
