"""The FAQ layer's matching (BM25 over jieba words), measured on a held-out split of a real FAQ-like set:
LLaMA-Factory's identity prompts (many paraphrases of "who are you") against unrelated instructions."""

from __future__ import annotations

import json
from pathlib import Path

from app.serving.faq import FaqIndex, pairs_from_rows, tokenize
from app.serving.faq_eval import hit_rates, split_pairs


def test_exact_and_reworded_questions_match_and_others_do_not() -> None:
    index = FaqIndex(
        [
            ("晚上睡不着怎么办？", "睡前一小时放下手机，固定作息。"),
            ("考试前很焦虑怎么办？", "把复习拆成小块，每完成一块就肯定自己。"),
            ("How do I reset my password?", "Open Settings, then Account, then Reset password."),
        ]
    )
    exact = index.best("晚上睡不着怎么办？", 0.6)
    assert exact is not None and exact.hit and exact.similarity == 1.0
    assert exact.answer.startswith("睡前")
    reworded = index.best("how can I reset the password", 0.5)
    assert reworded is not None and reworded.answer.startswith("Open Settings") and reworded.hit
    unrelated = index.best("今天股市行情如何", 0.6)
    assert unrelated is None or not unrelated.hit
    assert tokenize("我最近总是睡不着") != list("我最近总是睡不着"), "jieba should give words, not characters"


def test_pairs_come_from_normalised_rows() -> None:
    rows = [
        {
            "messages": [
                {"role": "system", "content": "s"},
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": "a"},
            ]
        }
    ]
    assert pairs_from_rows(rows) == [("q", "a")]


def test_hit_rate_on_a_held_out_split(shared_data: Path) -> None:
    identity = json.loads((shared_data / "llamafactory" / "identity.json").read_text(encoding="utf-8"))
    pairs = [(r["instruction"], r["output"]) for r in identity]
    train, held = split_pairs(pairs, held_out=0.2, seed=42)
    alpaca = json.loads((shared_data / "llamafactory" / "alpaca_zh_demo.json").read_text(encoding="utf-8"))
    unrelated = [r["instruction"] for r in alpaca[:200]]
    rows = hit_rates(FaqIndex(train), [q for q, _ in held], unrelated, [0.3, 0.5, 0.6])
    for row in rows:
        print(
            f"threshold {row['threshold']}: hit rate {row['hit_rate']:.2f}, "
            f"false hits {row['false_hit_rate']:.2f}"
        )
    at_default = next(r for r in rows if r["threshold"] == 0.6)
    # Paraphrases of indexed questions hit far more often than unrelated questions do.
    assert at_default["hit_rate"] > at_default["false_hit_rate"] + 0.2, rows
