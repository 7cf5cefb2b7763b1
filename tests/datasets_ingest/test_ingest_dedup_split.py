"""De-duplication across splits, the seeded split, the content hash and the statistics."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import pytest

from app.datasets.ingest import (
    IngestError,
    content_hash,
    conversation_stats,
    find_duplicates,
    split_rows,
    train_val_overlap,
    write_jsonl_atomic,
)

HAN = (
    "的一是不了人我在有他这为之大来以个中上们到说国和地也子时道出而要于就下得可你年生"
    "自会那后能对着事其里所去行过家十用发天如然作方成者多日都三小"
)


def _row(i: int, user: str, answer: str, system: str | None = None) -> dict:
    messages = [{"role": "system", "content": system}] if system else []
    messages += [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]
    return {"id": f"row-{i}", "messages": messages}


def _random_text(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(HAN) for _ in range(n))


def _mutate(rng: random.Random, text: str, changes: int) -> str:
    chars = list(text)
    for pos in rng.sample(range(len(chars)), changes):
        chars[pos] = rng.choice(HAN)
    return "".join(chars)


def test_near_duplicate_similarity_follows_the_threshold() -> None:
    rng = random.Random(7)
    rows, planted = [], []
    for i in range(300):
        rows.append(_row(i, _random_text(rng, 80), _random_text(rng, 120)))
    for k in range(20):  # copies with 2 of 200 characters changed: Jaccard of 3-grams ~0.94
        src = rows[k * 7]
        user, answer = src["messages"][0]["content"], src["messages"][1]["content"]
        rows.append(_row(300 + k, _mutate(rng, user, 1), _mutate(rng, answer, 1)))
        planted.append(300 + k)
    result = find_duplicates(rows, near_threshold=0.8)
    assert result["exact"] == 0
    assert set(result["near_rows"]) == set(planted)  # random Chinese text has no accidental near pairs
    example = next(e for e in result["examples"] if e["kind"] == "near")
    assert example["rows"][1] in planted and example["ids"][0] == rows[example["rows"][0]]["id"]
    assert 0.8 <= example["similarity"] <= 1.0
    assert find_duplicates(rows, near_threshold=0.999)["near"] < len(planted)


def test_exact_duplicates_ignore_width_and_whitespace_but_not_roles() -> None:
    a = _row(0, "ＡＢＣ　１２３ 你好", "答案")
    b = _row(1, "ABC 123   你好", " 答案 ")
    c = _row(2, "答案", "ABC 123 你好")  # same texts, swapped roles: a different conversation
    result = find_duplicates([a, b, c])
    assert result["exact_rows"] == [1]
    assert result["near_rows"] == []


def test_train_val_overlap_finds_leaks() -> None:
    rng = random.Random(3)
    train = [_row(i, _random_text(rng, 60), _random_text(rng, 90)) for i in range(200)]
    val = [_row(1000 + i, _random_text(rng, 60), _random_text(rng, 90)) for i in range(50)]
    val[4] = dict(train[10], id="leak-exact")
    leaked = train[20]["messages"]
    val[9] = _row(9, _mutate(rng, leaked[0]["content"], 1), leaked[1]["content"])
    result = train_val_overlap(train, val)
    assert (result["exact"], result["near"]) == (1, 1)
    assert result["val_rows"] == [4, 9]
    assert result["val_ids"] == ["leak-exact", "row-9"]
    assert [e["rows"] for e in result["examples"]] == [[10, 4], [20, 9]]


@pytest.mark.parametrize(("kwargs", "n_val"), [({"val_set_size": 13}, 13), ({"val_set_rate": 0.1}, 10),
                                               ({"val_set_rate": 0.001}, 1), ({}, 0)])  # fmt: skip
def test_split_is_seeded_disjoint_and_ordered(kwargs: dict, n_val: int) -> None:
    rows = [_row(i, f"问题{i}", f"回答{i}") for i in range(100)]
    train, val = split_rows(rows, seed=1, **kwargs)
    assert len(val) == n_val and len(train) + len(val) == 100
    assert {r["id"] for r in train} | {r["id"] for r in val} == {r["id"] for r in rows}
    assert split_rows(rows, seed=1, **kwargs) == (train, val)
    order = [r["id"] for r in rows]
    assert [r["id"] for r in val] == sorted((r["id"] for r in val), key=order.index)
    if n_val > 1:
        assert split_rows(rows, seed=2, **kwargs)[1] != val


@pytest.mark.parametrize(
    "kwargs",
    [{"val_set_size": 100}, {"val_set_size": -1}, {"val_set_rate": 1.0}, {"val_set_rate": 0.0},
     {"val_set_size": 5, "val_set_rate": 0.1}, {"val_set_size": 2.5}],
)  # fmt: skip
def test_split_refuses_impossible_sizes(kwargs: dict) -> None:
    rows = [_row(i, "问", "答") for i in range(100)]
    with pytest.raises(IngestError):
        split_rows(rows, **kwargs)


def test_content_hash_is_the_sha256_of_the_written_file(tmp_path: Path) -> None:
    rows = [_row(i, f"问题{i}", f"回答{i}", system="系统" if i % 2 else None) for i in range(10)]
    path = tmp_path / "train.jsonl"
    write_jsonl_atomic(rows, path)
    assert content_hash(rows) == hashlib.sha256(path.read_bytes()).hexdigest()
    assert [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] == rows
    reordered_keys = [{"messages": r["messages"], "id": r["id"]} for r in rows]
    assert content_hash(reordered_keys) == content_hash(rows)  # key order is not content
    assert content_hash(rows[1:]) != content_hash(rows)
    assert content_hash(list(reversed(rows))) != content_hash(rows)  # row order is content (the split)


def test_conversation_stats_counts() -> None:
    rows = [
        _row(0, "ab", "cde", system="sys"),
        {
            "id": "r1",
            "messages": [
                {"role": "user", "content": "u1"},
                {"role": "assistant", "content": "a1"},
                {"role": "user", "content": "u2"},
                {"role": "assistant", "content": "a2xx"},
            ],
        },
    ]
    stats = conversation_stats(rows)
    assert stats["rows"] == 2 and stats["rows_with_system"] == 1
    assert stats["turns"]["total"] == 6 and stats["turns"]["max"] == 4 and stats["turns"]["mean"] == 3.0
    assert stats["exchanges"]["total"] == 3
    chars = stats["characters"]
    assert (chars["system"], chars["user"], chars["assistant"]) == (3, 6, 9) and chars["total"] == 18
    assert chars["per_row"]["max"] == 10
    hist = stats["char_histogram"]
    assert sum(hist["counts"]) == 2 and len(hist["edges"]) == len(hist["counts"]) + 1
    assert hist["edges"][-1] > 10


def test_fast_signature_equals_datasketch_per_item_update() -> None:
    from datasketch import MinHash

    from app.datasets.ingest.dedup import NUM_PERM, _shingle_hashes, _Signer

    signer = _Signer()
    assert signer._whole_array  # the fast path is active with the pinned datasketch
    rng = random.Random(11)
    for text in ["短", "ab", _random_text(rng, 50), _random_text(rng, 900)]:
        reference = MinHash(num_perm=NUM_PERM, hashfunc=lambda x: x)
        reference.update_batch([int(h) for h in _shingle_hashes(text)])
        assert (signer.sign(text).hashvalues == reference.hashvalues).all()


def test_progress_reaches_the_total() -> None:
    rows = [_row(i, f"问题{i}", f"回答{i}") for i in range(2500)]
    seen: list[tuple[int, int]] = []
    find_duplicates(rows, progress=lambda done, total: seen.append((done, total)))
    assert seen[0] == (0, 2500) and seen[-1] == (2500, 2500)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    seen.clear()
    train_val_overlap(rows[:2000], rows[2000:], progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (2500, 2500)
