"""Run a training program with only `Trainer.train` under cProfile: imports, loading and data preparation
stay out of the profile, so two programs' profiles compare their training loops alone.

    python benchmarks/profile_train.py OUT.prof -m worker.training.sft --config CONFIG
    python benchmarks/profile_train.py OUT.prof SCRIPT.py ARGS...

Used by throughput.py for both sides of its overhead comparison.
"""

from __future__ import annotations

import cProfile
import runpy
import sys
from pathlib import Path
from typing import Any

# benchmarks/datasets.py would pass for the `datasets` library that transformers imports.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]


def main() -> None:
    out, program = sys.argv[1], sys.argv[2:]
    import transformers

    untimed_train = transformers.Trainer.train

    def profiled_train(self: Any, *args: Any, **kwargs: Any) -> Any:
        profiler = cProfile.Profile()
        try:
            return profiler.runcall(untimed_train, self, *args, **kwargs)
        finally:
            profiler.dump_stats(out)

    transformers.Trainer.train = profiled_train  # type: ignore[method-assign]
    if program[0] == "-m":
        sys.argv = [program[1], *program[2:]]
        runpy.run_module(program[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = program
        runpy.run_path(program[0], run_name="__main__")


if __name__ == "__main__":
    main()
