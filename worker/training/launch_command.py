"""The command line (and environment additions) that start the training child for 1 or N processes.

One process without DeepSpeed: ``python -m worker.training.sft --config RUN_DIR/config.json``.
Several processes, or any DeepSpeed run: the same module under ``python -m torch.distributed.run`` (torchrun).

Why torchrun even for one DeepSpeed process: DeepSpeed started by plain ``python`` tries MPI discovery and
fails with ``No module named 'mpi4py'`` unless RANK/LOCAL_RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT are set
(measured, ../shared/STACK-NOTES.md); torchrun sets all five. ``--standalone`` makes torchrun pick a free
local rendezvous port, so two jobs on one machine never collide on MASTER_PORT.

Why torchrun rather than the ``deepspeed`` launcher: both work on this stack (STACK-NOTES), but the deepspeed
launcher probes for pdsh/hostfiles and re-execs through its own runner; torchrun is one process tree that
the supervisor's process-group kill ends cleanly.

Pure standard library: the worker's supervisor imports it without torch.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Protocol


class _LaunchChoice(Protocol):
    num_processes: int
    zero_stage: int | None


def _torch_extensions_dir() -> str:
    """A persistent folder for DeepSpeed's JIT-compiled ops (30-45 s each to build: STACK-NOTES).

    Respects a TORCH_EXTENSIONS_DIR the operator already set; otherwise a per-user cache folder that
    outlives run folders, so only the first DeepSpeed run on a machine pays the compile.
    """
    existing = os.environ.get("TORCH_EXTENSIONS_DIR")
    if existing:
        return existing
    cache_home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return str(Path(cache_home) / "ftstudio" / "torch_extensions")


def needs_launcher(hp: _LaunchChoice) -> bool:
    """True when the child must run under torchrun: several processes, or DeepSpeed at all."""
    return hp.num_processes > 1 or hp.zero_stage is not None


def build_launch(
    config_path: Path, hp: _LaunchChoice, *, python: str = sys.executable
) -> tuple[list[str], dict[str, str]]:
    """Return ``(argv, env_additions)`` for the training child.

    ``env_additions`` are to be merged over the inherited environment by the supervisor
    (``env={**os.environ, **env_additions}``); they are empty for a plain single-process run.
    """
    if hp.num_processes < 1:
        raise ValueError(f"num_processes must be at least 1, got {hp.num_processes}")
    child = ["-m", "worker.training.sft", "--config", str(config_path)]
    if not needs_launcher(hp):
        return [python, *child], {}
    argv = [
        python,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nnodes",
        "1",
        "--nproc_per_node",
        str(hp.num_processes),
        *child,
    ]
    env = {"TORCH_EXTENSIONS_DIR": _torch_extensions_dir()}
    return argv, env


def prebuild_command(hp: _LaunchChoice, *, python: str = sys.executable) -> list[str] | None:
    """A one-process command that JIT-compiles the DeepSpeed CPU ops this launch will load, or None.

    Run it (with build_launch's env additions) before the launch: the ops are then in the cache, and N
    ranks never compile the same op at once at startup (a first 2-process run on a fresh cache failed once
    here while both ranks were compiling; every later one passed). Cheap when the cache is warm (import only).
    On a CUDA machine DeepSpeed's ops are the GPU ones, built differently: None there is decided by the
    caller (this module stays free of torch), so call it for CPU workers only.
    """
    if hp.zero_stage is None:
        return None
    builders = ["ShareMemCommBuilder"]  # loaded at every distributed start on the CPU (STACK-NOTES)
    if getattr(hp, "offload_optimizer", False):
        builders.append("CPUAdamBuilder")  # DeepSpeedCPUAdam for the offloaded optimizer
    code = (
        "from deepspeed.ops.op_builder import cpu as b\n"
        f"for name in {builders!r}:\n"
        "    getattr(b, name)().load()\n"
    )
    return [python, "-c", code]


def build_command(config_path: Path, hp: _LaunchChoice, *, python: str = sys.executable) -> list[str]:
    """The argv only (see build_launch for the environment additions a DeepSpeed run wants)."""
    return build_launch(config_path, hp, python=python)[0]
