"""Benchmark: what the input limits save, each against its baseline measured in the same run.

1. Near-duplicate signing of one long row (1M characters): peak traced memory of the old way (one
   update_batch over every shingle: a NUM_PERM x shingles uint64 matrix) vs the blocked signer.
2. An xlsx zip bomb (a ~100 KB workbook of 300,000 rows): CPU time of parsing it with openpyxl (what
   the upload did before) vs the zip-directory check that now refuses it.
3. A 64 MiB upload over a 1 MiB limit, straight at the ASGI app: bytes the app read before answering.

Prints one line per measurement with its ratio and saves the raw numbers as JSON beside this file
(benchmarks/hardening_limits.json). Usage: python benchmarks/hardening_limits.py
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _peak(fn) -> float:  # type: ignore[no-untyped-def]
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def signing() -> dict:
    from app.datasets.ingest.dedup import _shingle_hashes, _Signer

    signer = _Signer()
    text = "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(1_000_000))

    def old() -> None:
        m = signer._base.copy()
        hashes = _shingle_hashes(text)
        m.update_batch([hashes] if signer._whole_array else hashes)

    baseline, ours = _peak(old), _peak(lambda: signer.sign(text))
    return {"baseline_peak_mib": baseline, "ours_peak_mib": ours, "ratio": baseline / ours}


def xlsx_bomb() -> dict:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "hardening"))
    from app.datasets.ingest.readers import IngestError, _refuse_zip_bomb
    from tests.hardening.test_upload_limits import _xlsx

    data = _xlsx(300_000)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bomb.xlsx"
        path.write_bytes(data)
        from openpyxl import load_workbook

        start = time.process_time()
        workbook = load_workbook(path, read_only=True, data_only=True)
        rows = sum(1 for _ in workbook.worksheets[0].iter_rows(values_only=True))
        workbook.close()
        baseline = time.process_time() - start
        import zipfile

        start = time.process_time()
        try:
            with zipfile.ZipFile(path) as zf:
                _refuse_zip_bomb(zf.infolist())
            refused = False
        except IngestError:
            refused = True
        ours = time.process_time() - start
    return {"file_bytes": len(data), "rows": rows, "baseline_cpu_s": baseline, "ours_cpu_s": ours,
            "refused": refused, "ratio": baseline / max(ours, 1e-6)}  # fmt: skip


def streamed_upload() -> dict:
    os.environ["FTSTUDIO_DATA_DIR"] = tempfile.mkdtemp()
    os.environ["FTSTUDIO_MAX_UPLOAD_BYTES"] = str(1 << 20)
    from app.settings import reset_settings_cache
    from app.web import create_app

    reset_settings_cache()
    app = create_app()
    chunk, total = 64 * 1024, 64 * 1024 * 1024
    pulled, status = 0, None

    head = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.jsonl"\r\n\r\n'

    async def receive() -> dict:
        nonlocal pulled
        pulled += 1
        body = head if pulled == 1 else b"z" * chunk
        return {"type": "http.request", "body": body, "more_body": pulled * chunk < total}

    async def send(message: dict) -> None:
        nonlocal status
        status = message.get("status", status)

    headers = [(b"host", b"bench"), (b"content-type", b"multipart/form-data; boundary=b")]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/api/v1/datasets", "raw_path": b"/api/v1/datasets",
             "query_string": b"", "root_path": "", "headers": headers, "client": ("127.0.0.1", 1),
             "server": ("bench", 80)}  # fmt: skip
    asyncio.run(app(scope, receive, send))
    read = pulled * chunk
    return {"status": status, "sent_bytes": total, "read_bytes": read, "ratio": total / read}


def main() -> None:
    results = {"signing": signing(), "xlsx_bomb": xlsx_bomb(), "streamed_upload": streamed_upload()}
    s, x, u = results["signing"], results["xlsx_bomb"], results["streamed_upload"]
    print(
        f"signing a 1M-character row: peak {s['baseline_peak_mib']:.0f} MiB before, "
        f"{s['ours_peak_mib']:.0f} MiB now ({s['ratio']:.1f}x less)"
    )
    print(
        f"xlsx bomb ({x['file_bytes']:,} bytes, {x['rows']:,} rows): "
        f"parsing {x['baseline_cpu_s']:.2f} s CPU, "
        f"refusing {x['ours_cpu_s'] * 1000:.2f} ms ({x['ratio']:.0f}x less); refused={x['refused']}"
    )
    print(f"64 MiB upload over a 1 MiB limit: HTTP {u['status']}, read {u['read_bytes']:,} bytes "
          f"({u['ratio']:.0f}x less than sent)")  # fmt: skip
    out = Path(__file__).with_suffix(".json")
    out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(f"raw numbers: {out}")


if __name__ == "__main__":
    main()
