"""Loss-token preview of one row, as a short process the web starts (the web never imports transformers).

    echo '{"id": "r1", "messages": [...]}' | python -m worker.datasets.preview --model-path DIR \
        --max-seq-length 1024

Prints {"pieces": [{"text", "ids", "carries_loss", "window"}, ...]} on stdout; on bad input prints
{"error": "..."} and exits 2.
"""

from __future__ import annotations

import argparse
import json
import sys

EXIT_USER_ERROR = 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render one dataset row through a model's chat template.")
    parser.add_argument("--model-path", required=True)
    parser.add_argument("--max-seq-length", type=int, required=True)
    parser.add_argument("--trust-remote-code", action="store_true")
    args = parser.parse_args(argv)
    try:
        row = json.loads(sys.stdin.read())
        if not isinstance(row, dict):
            raise ValueError("the row must be a JSON object")
        from worker.datasets.token_stats import render_loss_preview

        pieces = render_loss_preview(
            row,
            args.model_path,
            max_seq_length=args.max_seq_length,
            trust_remote_code=args.trust_remote_code,
        )
    except ValueError as exc:  # ConfigError, DataError and bad JSON are all ValueErrors
        print(json.dumps({"error": str(exc)}, ensure_ascii=False))
        return EXIT_USER_ERROR
    print(json.dumps({"pieces": pieces}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
