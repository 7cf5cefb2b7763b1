"""Benchmark: ingest + exact + near-duplicate detection of synthetic Chinese rows.

Goal (issue): 100,000 rows in under 60 s and under 2 GiB peak memory on the 2-core CI machine.

Prints, for one generated file:
- the baseline: json.loads of every line (the floor any JSONL ingest pays), in this process;
- ingest_file (read, detect, normalise, validate, exact + MinHash-LSH near dedup, stats) in a fresh child
  process, so its peak RSS is its own (resource.getrusage of the child);
- the ratio of the two;
- a second baseline for the MinHash step: datasketch used the documented simple way (a new MinHash per
  row, SHA-1 of each 3-gram) against our signer (shared permutations, numpy 3-gram hashes), per row.

Usage: python benchmarks/datasets.py [--rows 100000] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# ~500 frequent Han characters plus punctuation: random text over them has essentially no accidental
# near duplicates, so the planted ones are the ones found.
_POOL = (
    "的一是不了人我在有他这为之大来以个中上们到说国和地也子时道出而要于就下得可你年生自会那后能对着事其里所去行过家"
    "十用发天如然作方成者多日都三小军二无同么经法当起与好看学进种将还分此心前面又定见只主没公从知开因由理意情本"
    "问题回答心理咨询压力焦虑睡眠学习工作家庭朋友老师学生父母感觉时间方法建议帮助沟通关系情绪放松练习计划目标"
    "，。？！、；：“”（）"
)


def _text(rng: random.Random, lo: int, hi: int) -> str:
    return "".join(rng.choices(_POOL, k=rng.randint(lo, hi)))


def _mutate(rng: random.Random, text: str, changes: int) -> str:
    chars = list(text)
    for pos in rng.sample(range(len(chars)), min(changes, len(chars))):
        chars[pos] = rng.choice(_POOL)
    return "".join(chars)


def generate(path: Path, n: int, seed: int) -> dict:
    """Alpaca JSONL with 3 % exact copies (full-width digits, extra spaces) and 3 % near copies."""
    rng = random.Random(seed)
    planted = {"exact": 0, "near": 0}
    rows: list[dict] = []
    for i in range(n):
        roll = rng.random()
        if rows and roll < 0.03:
            src = rng.choice(rows)
            rows.append(
                {"instruction": " " + src["instruction"] + "　", "input": "", "output": src["output"]}
            )
            planted["exact"] += 1
        elif rows and roll < 0.06:
            src = rng.choice(rows)
            rows.append(
                {"instruction": src["instruction"], "input": "", "output": _mutate(rng, src["output"], 2)}
            )
            planted["near"] += 1
        else:
            rows.append({"instruction": f"{i}号问题：" + _text(rng, 30, 120), "input": "",
                         "output": _text(rng, 80, 400)})  # fmt: skip
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return planted


def child(path: str) -> None:
    from app.datasets.ingest import IngestOptions, ingest_file

    start, cpu_start = time.perf_counter(), time.process_time()
    rows, report = ingest_file(Path(path), original_filename="bench.jsonl", options=IngestOptions())
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
    dup = report.duplicates
    out = {"seconds": seconds, "cpu_seconds": cpu, "peak_rss": peak, "rows": len(rows), "exact": dup["exact"],
           "near": dup["near"], "format": report.format}  # fmt: skip
    print(json.dumps(out))


def minhash_baseline(path: Path, n: int) -> tuple[float, float]:
    """Seconds per row: datasketch the simple way vs our signer, on the first n rows."""
    from datasketch import MinHash

    from app.datasets.ingest.dedup import NUM_PERM, _Signer

    texts = []
    with path.open(encoding="utf-8") as fh:
        for _, line in zip(range(n), fh, strict=False):
            row = json.loads(line)
            texts.append(row["instruction"] + "\n" + row["output"])
    start = time.perf_counter()
    for text in texts:
        m = MinHash(num_perm=NUM_PERM)
        m.update_batch({text[i : i + 3].encode("utf-8") for i in range(len(text) - 2)})
    simple = (time.perf_counter() - start) / n
    signer = _Signer()
    start = time.perf_counter()
    for text in texts:
        signer.sign(text)
    ours = (time.perf_counter() - start) / n
    return simple, ours


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.jsonl"
        planted = generate(path, args.rows, args.seed)
        size = path.stat().st_size
        start = time.perf_counter()
        with path.open(encoding="utf-8") as fh:
            parsed = [json.loads(line) for line in fh]
        baseline = time.perf_counter() - start
        del parsed
        proc = subprocess.run(
            [sys.executable, __file__, "--child", str(path)], capture_output=True, text=True
        )
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            return 1
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        simple, ours = minhash_baseline(path, min(2000, args.rows))
    print(f"rows: {args.rows:,}  file: {size / 2**20:.1f} MiB  planted exact {planted['exact']:,}, "
          f"near {planted['near']:,}")  # fmt: skip
    print(f"found: exact {result['exact']:,}, near {result['near']:,} (format {result['format']})")
    print(f"baseline json.loads of every line: {baseline:.2f} s")
    print(f"ingest_file (read+validate+exact+near+stats): {result['seconds']:.2f} s  "
          f"= {result['seconds'] / baseline:.1f}x baseline   goal < 60 s: "
          f"{'met' if result['seconds'] < 60 else 'MISSED'}")  # fmt: skip
    # On a shared machine other processes stretch wall time; CPU time is what this code costs.
    print(f"ingest_file CPU time: {result['cpu_seconds']:.2f} s (single process: the wall time on an idle "
          f"machine)   load average now: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")  # fmt: skip
    print(f"peak RSS of the ingest process: {result['peak_rss'] / 2**30:.2f} GiB   goal < 2 GiB: "
          f"{'met' if result['peak_rss'] < 2 * 2**30 else 'MISSED'}")  # fmt: skip
    print(f"MinHash per row: datasketch simple way {simple * 1e6:.0f} us, ours {ours * 1e6:.0f} us "
          f"= {simple / ours:.1f}x faster")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
