"""Which devices this studio's workers have, read from their registration (app/models/worker_node.py
``accelerators``, written by worker/registry.py), so the form plans for the hardware that will train.

A worker's ``devices`` (NVML's view, written by worker/registry.describe_devices: ``{"kind": "gpu", "name",
"memory_total_bytes", ...}`` or one ``{"kind": "cpu", ...}``) decide when present. Older rows fall back to
``accelerators``: a non-empty ``gpus`` list, a positive ``gpu_count``, or a ``cuda_visible_devices`` that
selects a device. Otherwise it is a CPU worker. No online worker: unknown (the form keeps its default).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import WorkerNode


@dataclass(frozen=True)
class StudioDevices:
    workers: int
    gpu_workers: int
    gpu_names: tuple[str, ...]

    @property
    def gpu_available(self) -> bool | None:
        """True/False when workers are registered; None when none is (nothing to say yet)."""
        return None if self.workers == 0 else self.gpu_workers > 0

    @property
    def cpu_only(self) -> bool:
        return self.workers > 0 and self.gpu_workers == 0


def _gpus_of(accelerators: dict[str, Any]) -> list[str]:
    gpus = accelerators.get("gpus")
    if isinstance(gpus, list) and gpus:
        return [str(g.get("name", "GPU")) if isinstance(g, dict) else str(g) for g in gpus]
    count = accelerators.get("gpu_count")
    if isinstance(count, int) and not isinstance(count, bool) and count > 0:
        return ["GPU"] * count
    visible = accelerators.get("cuda_visible_devices")
    if isinstance(visible, str) and visible.strip() not in ("", "-1", "none", "NoDevFiles"):
        return ["GPU"] * len([d for d in visible.split(",") if d.strip()])
    return []


def studio_devices(session: Session) -> StudioDevices:
    """The devices of the online workers."""
    nodes = session.scalars(select(WorkerNode).where(WorkerNode.status == "online")).all()
    names: list[str] = []
    gpu_workers = 0
    for node in nodes:
        listed = [d for d in (node.devices or []) if isinstance(d, dict)]
        if listed:
            found = [str(d.get("name", "GPU")) for d in listed if d.get("kind") == "gpu"]
        else:
            found = _gpus_of(node.accelerators or {})
        gpu_workers += bool(found)
        names += found
    return StudioDevices(workers=len(nodes), gpu_workers=gpu_workers, gpu_names=tuple(dict.fromkeys(names)))


def default_plan_target(devices: StudioDevices, known_gpus: list[str]) -> str:
    """The panel's first choice: "cpu" for a CPU-only studio, the workers' card when the planner knows it,
    else the planner's default card."""
    if devices.cpu_only:
        return "cpu"
    for name in devices.gpu_names:
        for known in known_gpus:
            if known.upper() in name.upper().replace(" ", "-") or name.upper() == known.upper():
                return known
    return "A100-80GB"
