"""The model layer's first stop: a question close enough to one of a deployment's FAQ pairs gets the stored
answer. BM25 (``rank-bm25``) over jieba words, so Chinese and English both match by words, not characters.

BM25 scores are unbounded, so the similarity shown to users is the query's score against the best
question divided by that question's score against itself: 1.0 means "says at least everything the stored
question says", and one threshold works for short and long questions alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

_WORD = re.compile(r"\w", re.UNICODE)


def tokenize(text: str) -> list[str]:
    import jieba

    return [w.lower() for w in jieba.lcut(text) if _WORD.search(w)]


@dataclass(frozen=True)
class FaqMatch:
    question: str
    answer: str
    similarity: float
    threshold: float

    @property
    def hit(self) -> bool:
        return self.similarity >= self.threshold


class FaqIndex:
    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        from rank_bm25 import BM25Okapi

        self.pairs = [(q, a) for q, a in pairs if q.strip() and a.strip()]
        if not self.pairs:
            raise ValueError("the FAQ set has no question/answer pairs")
        corpus = [tokenize(q) or ["<empty>"] for q, _ in self.pairs]
        self.bm25 = BM25Okapi(corpus)
        # Each question's score against itself: the ceiling that turns a score into a similarity.
        self.ceiling = [max(float(self.bm25.get_scores(doc)[i]), 1e-9) for i, doc in enumerate(corpus)]

    def best(self, question: str, threshold: float) -> FaqMatch | None:
        words = tokenize(question)
        if not words:
            return None
        scores = self.bm25.get_scores(words)
        ranked = sorted(range(len(scores)), key=lambda i: -min(1.0, scores[i] / self.ceiling[i]))
        i = ranked[0]
        similarity = round(max(0.0, min(1.0, float(scores[i]) / self.ceiling[i])), 4)
        q, a = self.pairs[i]
        return FaqMatch(question=q, answer=a, similarity=similarity, threshold=threshold)


def pairs_from_rows(rows: list[dict]) -> list[tuple[str, str]]:
    """Normalised dataset rows -> (first user turn, the assistant turn after it)."""
    pairs = []
    for row in rows:
        messages = row.get("messages") or []
        for i, message in enumerate(messages[:-1]):
            if message.get("role") == "user" and messages[i + 1].get("role") == "assistant":
                pairs.append((str(message["content"]), str(messages[i + 1]["content"])))
                break
    return pairs


@lru_cache(maxsize=16)
def index_for_version(version_path: str, content_hash: str) -> FaqIndex:
    """Cached per version (immutable: its hash names its content)."""
    import json
    from pathlib import Path

    rows = [json.loads(line) for line in Path(version_path).read_text(encoding="utf-8").splitlines() if line]
    return FaqIndex(pairs_from_rows(rows))
