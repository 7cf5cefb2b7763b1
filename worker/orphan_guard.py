"""A job's processes never outlive the worker that supervises them.

If the worker is killed (kill -9, OOM killer) while a job trains, a training child left running would
keep writing checkpoints into the run folder the re-queued job resumes from: the job would train twice in
one folder. Two guards, both standard library (this module is imported before torch):

- ``die_with_parent``: the supervisor's ``preexec_fn`` for the child; Linux's PR_SET_PDEATHSIG makes the
  kernel SIGKILL the child the moment the supervising thread dies.
- ``exit_with_supervisor``: called once by the child (and every torchrun rank); a daemon thread polls the
  parent pid and the supervisor's pid (FTSTUDIO_SUPERVISOR_PID) and kills the job's process group when
  either is gone. It covers ranks under torchrun and systems without prctl.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading

PR_SET_PDEATHSIG = 1
SUPERVISOR_PID_ENV = "FTSTUDIO_SUPERVISOR_PID"


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """Ask the kernel to send `sig` to this process when its parent thread exits (Linux only)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def supervisor_gone(parent_pid: int, supervisor_pid: int | None) -> bool:
    if os.getppid() != parent_pid:
        return True  # re-parented: whoever started us has died
    return supervisor_pid is not None and not _alive(supervisor_pid)


def _stop_now() -> None:
    # Our process group is the job's alone (the supervisor starts the child in a new session, and only
    # then sets FTSTUDIO_SUPERVISOR_PID): take all of it along, ranks and data loaders included.
    with contextlib.suppress(OSError):
        os.killpg(os.getpgrp(), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)


def exit_with_supervisor(poll_seconds: float = 1.0) -> threading.Thread | None:
    """Start the watch thread; a no-op outside a supervised run (no FTSTUDIO_SUPERVISOR_PID)."""
    raw = os.environ.get(SUPERVISOR_PID_ENV)
    if not raw or not raw.isdigit():
        return None
    supervisor_pid, parent_pid = int(raw), os.getppid()
    die_with_parent()
    if supervisor_gone(parent_pid, supervisor_pid):
        _stop_now()

    def watch() -> None:
        stop = threading.Event()
        while not stop.wait(poll_seconds):
            if supervisor_gone(parent_pid, supervisor_pid):
                print(
                    "ftstudio: the worker supervising this job is gone; stopping", file=sys.stderr, flush=True
                )
                _stop_now()

    thread = threading.Thread(target=watch, name="ftstudio-orphan-guard", daemon=True)
    thread.start()
    return thread
