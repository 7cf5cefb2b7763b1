"""The child of the test-only "sleep" job kind (worker/tasks/test_kinds.py): standard library only."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def main(config_path: str) -> int:
    config = json.loads(Path(config_path).read_text(encoding="utf-8"))
    run_dir = Path(config["run_dir"])
    # One line per start: a test sees a job that ran twice.
    with (run_dir / "starts.log").open("a", encoding="utf-8") as handle:
        handle.write(f"{os.getpid()} {time.time()}\n")
    steps = int(config["steps"])
    with (run_dir / "metrics.jsonl").open("a", encoding="utf-8") as out:

        def write(event: str, **fields: object) -> None:
            out.write(json.dumps({"event": event, **fields}) + "\n")
            out.flush()

        write("start", total_steps=steps)
        for step in range(1, steps + 1):
            time.sleep(float(config["seconds_per_step"]))
            write("train", step=step, loss=1.0 / step, total_steps=steps, t=time.time())
        write("end", status="succeeded")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
