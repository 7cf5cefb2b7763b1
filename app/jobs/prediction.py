"""The planner's memory prediction for a job, stored with the job so the measured peak can be compared
with it afterwards (and the planner calibrated). A prediction is advice: it never blocks a launch."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("ftstudio.jobs")


def predict_peak_bytes(model_source: str, method: str, hyperparameters: dict[str, Any]) -> dict[str, int]:
    """{"gpu": bytes per GPU, "cpu": peak RSS on a CPU}; empty when the model's shape is unknown."""
    from app.planner import plan, request_from_hyperparameters

    predictions: dict[str, int] = {}
    for device in ("gpu", "cpu"):
        try:
            request, _notes = request_from_hyperparameters(
                model_source, {**hyperparameters, "method": method}, device=device
            )
            predictions[device] = int(plan(request, with_recommendations=False).per_gpu.peak_bytes)
        except Exception as exc:  # an unknown architecture or an unreadable config: no prediction
            log.info("no %s memory prediction for %s: %s", device, model_source, exc)
    return predictions
