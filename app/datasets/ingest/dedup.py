"""Exact and near-duplicate detection (MinHash LSH from datasketch), within a set and across splits.

Exact: conversations equal after Unicode NFKC (full-width -> half-width letters, digits, punctuation)
and collapsing whitespace. Near: Jaccard similarity of character 3-gram sets, estimated with MinHash
(Broder 1997) and searched with banded LSH (Leskovec, Rajaraman, Ullman, "Mining of Massive Datasets",
ch. 3). Character shingles suit Chinese, which has no spaces between words.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from app.datasets.ingest.schema import IngestError

if TYPE_CHECKING:  # datasketch pulls in scipy (~1 s): imported on first use, not when the web starts
    from datasketch import MinHash, MinHashLSH

NUM_PERM = 128  # signature length; the estimate's standard error is sqrt(J(1-J)/NUM_PERM) (Broder 1997)
SHINGLE = 3
SIGN_BLOCK = 4096  # shingles hashed at once: bounds a signature's memory to ~4 MB whatever the row length
MAX_EXAMPLES = 20
EXAMPLE_CHARS = 200
_WS = re.compile(r"\s+")
# Odd 64-bit multipliers to combine three code points into one shingle hash (wrapping arithmetic);
# datasketch then mixes it with MurmurHash3's finaliser before the permutations.
_K = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F), np.uint64(0x165667B19E3779F9))


# Full-width ASCII forms (U+FF01..U+FF5E) and the ideographic space map to ASCII exactly as NFKC maps them;
# translating them first leaves most Chinese text already in NFKC, so the costly normalize() call is
# skipped by the quick check (measured: 30 us per 300-character row otherwise, the largest single cost).
# (str.translate with a dict costs ~15 us a row on Chinese text; a regex over the few hits ~5 us.)
_FULL_WIDTH = re.compile("[\uff01-\uff5e\u3000]")
_HALF_WIDTH = {chr(0xFF01 + k): chr(0x21 + k) for k in range(0x5E)} | {"\u3000": " "}


def _to_half(match: re.Match) -> str:
    return _HALF_WIDTH[match.group()]


def normalise_text(text: str) -> str:
    """NFKC (full-width -> half-width, compatibility forms) with runs of whitespace as one space."""
    text = _FULL_WIDTH.sub(_to_half, text)
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    return _WS.sub(" ", text).strip()


def _normalised(row: dict) -> list[tuple[str, str]]:
    return [(m["role"], normalise_text(m["content"])) for m in row["messages"]]


def _exact_key(normalised: list[tuple[str, str]]) -> bytes:
    canon = "\x1e".join(f"{role}\x1f{text}" for role, text in normalised)
    return hashlib.blake2b(canon.encode("utf-8"), digest_size=16).digest()


def _shingle_text(normalised: list[tuple[str, str]]) -> str:
    return "\n".join(text for _, text in normalised)


def _identity(x: object) -> object:
    return x


def _shingle_hashes(text: str) -> np.ndarray:
    """32-bit hashes of the character 3-grams of `text` (the whole text when shorter). Repeated 3-grams
    are left in: a minimum is unchanged by repeats, and np.unique's sort cost more than they do."""
    cps = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    if len(cps) < SHINGLE:
        cps = np.concatenate([cps, np.zeros(SHINGLE - len(cps), dtype=np.uint64)])
    with np.errstate(over="ignore"):
        h = cps[:-2] * _K[0] + cps[1:-1] * _K[1] + cps[2:] * _K[2]
    return ((h ^ (h >> np.uint64(32))) & np.uint64(0xFFFFFFFF)).astype(np.uint32)


class _Signer:
    """Builds MinHash signatures sharing one set of permutations (MinHash.copy keeps them)."""

    def __init__(self) -> None:
        from datasketch import MinHash

        self._base = MinHash(num_perm=NUM_PERM, hashfunc=_identity)
        # update_batch calls hashfunc once per item in Python (~40 us of a ~250 us row). Handing it the
        # whole array as one item gives the same hash values in one numpy step with datasketch 2.x; we
        # check that on a probe and keep the per-item path if a datasketch version behaves otherwise.
        probe = _shingle_hashes("近似重复检测的自检文本 probe")
        one, each = self._base.copy(), self._base.copy()
        each.update_batch(probe)
        try:
            one.update_batch([probe])
            self._whole_array = bool(np.array_equal(one.hashvalues, each.hashvalues))
        except (ValueError, TypeError):
            self._whole_array = False

    def sign(self, text: str) -> MinHash:
        m = self._base.copy()
        hashes = _shingle_hashes(text)
        # In blocks: update_batch builds a NUM_PERM x len(block) uint64 matrix (1 KiB per shingle), so one
        # 1M-character row once took 1 GB. A minimum taken block by block is the same minimum.
        for start in range(0, len(hashes), SIGN_BLOCK):
            block = hashes[start : start + SIGN_BLOCK]
            m.update_batch([block] if self._whole_array else block)
        return m


def _make_lsh(threshold: float) -> MinHashLSH:
    from datasketch import MinHashLSH

    # Candidates are verified against the threshold afterwards, so a missed duplicate costs more than an
    # extra candidate: weight false negatives 0.8 (at 0.8 this gives 12 bands of 10 rows, recall 0.74 at
    # exactly the threshold and 0.93 at +0.05). Near 1.0 datasketch finds no split with 2+ bands.
    try:
        return MinHashLSH(threshold=threshold, num_perm=NUM_PERM, weights=(0.2, 0.8))
    except ValueError:
        return MinHashLSH(num_perm=NUM_PERM, params=(NUM_PERM // 8, 8))


def _check_threshold(near_threshold: float) -> None:
    if not 0.0 < near_threshold <= 1.0:
        raise IngestError("the near-duplicate threshold must be in (0, 1]", field="near_threshold")


def _similarity(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.count_nonzero(a == b)) / len(a)


def _example(kind: str, i: int, j: int, rows_a: list[dict], rows_b: list[dict], sim: float | None) -> dict:
    text = rows_b[j]["messages"]
    preview = " | ".join(m["content"] for m in text if m["role"] != "system")[:EXAMPLE_CHARS]
    ids = [rows_a[i].get("id"), rows_b[j].get("id")]
    example = {"kind": kind, "rows": [i, j], "ids": ids, "text": preview}
    if sim is not None:
        example["similarity"] = round(sim, 3)
    return example


Progress = Callable[[int, int], None]  # progress(done, total), for a worker job's progress bar
PROGRESS_EVERY = 1000


def _tick(progress: Progress | None, done: int, total: int) -> None:
    if progress is not None and (done % PROGRESS_EVERY == 0 or done == total):
        progress(done, total)


def find_duplicates(
    rows: list[dict], *, near_threshold: float = 0.8, progress: Progress | None = None, near: bool = True
) -> dict:
    """Later copies of earlier rows. `rows` indices are 0-based positions in `rows`.

    Returns {"exact": n, "near": n, "threshold": t, "exact_rows": [...], "near_rows": [...],
    "exact_ids", "near_ids" (the same rows by id: stable when rows are later dropped),
    "examples": [{"kind", "rows": [first, copy], "ids", "text", "similarity"?}]}.
    A near duplicate is compared only with rows kept so far, so dropping every listed row keeps one row
    of each cluster.
    """
    _check_threshold(near_threshold)
    seen: dict[bytes, int] = {}
    exact_rows: list[int] = []
    near_rows: list[int] = []
    examples: list[dict] = []
    signer = _Signer()
    lsh = _make_lsh(near_threshold)
    signatures: dict[int, np.ndarray] = {}
    for i, row in enumerate(rows):
        _tick(progress, i, len(rows))
        normalised = _normalised(row)
        key = _exact_key(normalised)
        first = seen.get(key)
        if first is not None:
            exact_rows.append(i)
            if sum(e["kind"] == "exact" for e in examples) < MAX_EXAMPLES:
                examples.append(_example("exact", first, i, rows, rows, None))
            continue
        seen[key] = i
        if not near:
            continue
        m = signer.sign(_shingle_text(normalised))
        best, best_sim = _best_match(lsh, m, signatures, near_threshold)
        if best is not None:
            near_rows.append(i)
            if sum(e["kind"] == "near" for e in examples) < MAX_EXAMPLES:
                examples.append(_example("near", best, i, rows, rows, best_sim))
            continue
        lsh.insert(i, m, check_duplication=False)
        signatures[i] = m.hashvalues
    _tick(progress, len(rows), len(rows))
    return {"exact": len(exact_rows), "near": len(near_rows), "threshold": near_threshold,
            "near_searched": near,
            "exact_rows": exact_rows, "near_rows": near_rows,
            "exact_ids": [rows[i].get("id") for i in exact_rows],
            "near_ids": [rows[i].get("id") for i in near_rows], "examples": examples}  # fmt: skip


def _best_match(
    lsh: MinHashLSH, m: MinHash, signatures: dict[int, np.ndarray], threshold: float
) -> tuple[int | None, float]:
    # LSH returns candidates sharing a band; keep those whose estimated Jaccard reaches the threshold.
    best, best_sim = None, 0.0
    for key in lsh.query(m):
        sim = _similarity(m.hashvalues, signatures[key])
        if sim >= threshold and (sim > best_sim or (sim == best_sim and key < (best or 0))):
            best, best_sim = key, sim
    return best, best_sim


def train_val_overlap(
    train: list[dict], val: list[dict], *, near_threshold: float = 0.8, progress: Progress | None = None
) -> dict:
    """Validation rows that repeat (exactly or nearly) a training row; they inflate validation scores.

    Returns {"exact": n, "near": n, "threshold": t, "val_rows": [...], "val_ids": [...], "examples": [{"kind",
    "rows": [train_index, val_index], "ids", "text", "similarity"?}]}.
    """
    _check_threshold(near_threshold)
    seen: dict[bytes, int] = {}
    signer = _Signer()
    lsh = _make_lsh(near_threshold)
    signatures: dict[int, np.ndarray] = {}
    total = len(train) + len(val)
    for i, row in enumerate(train):
        _tick(progress, i, total)
        normalised = _normalised(row)
        seen.setdefault(_exact_key(normalised), i)
        m = signer.sign(_shingle_text(normalised))
        lsh.insert(i, m, check_duplication=False)
        signatures[i] = m.hashvalues
    exact = near = 0
    val_rows: list[int] = []
    examples: list[dict] = []
    for j, row in enumerate(val):
        _tick(progress, len(train) + j, total)
        normalised = _normalised(row)
        first = seen.get(_exact_key(normalised))
        if first is not None:
            exact += 1
            val_rows.append(j)
            if len(examples) < 2 * MAX_EXAMPLES:
                examples.append(_example("exact", first, j, train, val, None))
            continue
        best, sim = _best_match(lsh, signer.sign(_shingle_text(normalised)), signatures, near_threshold)
        if best is not None:
            near += 1
            val_rows.append(j)
            if len(examples) < 2 * MAX_EXAMPLES:
                examples.append(_example("near", best, j, train, val, sim))
    _tick(progress, total, total)
    return {"exact": exact, "near": near, "threshold": near_threshold, "val_rows": val_rows,
            "val_ids": [val[j].get("id") for j in val_rows], "examples": examples}  # fmt: skip
