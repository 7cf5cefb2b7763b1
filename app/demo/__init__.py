"""Demo content that ships with FT Studio: a small Chinese counselling dataset and the demo model's name.

The dataset is written by `app.demo.make_demo_data` from hand-written blocks; the model is prepared on first
start by `worker.demo_model.ensure_demo_model` (it needs torch, so it lives on the worker side).
"""

from __future__ import annotations

from pathlib import Path

DEMO_DATASET_PATH: Path = Path(__file__).resolve().with_name("counselling_demo.jsonl")
DEMO_DATASET_NAME = "counselling-demo (zh)"
DEMO_MODEL_NAME = "SmolLM2-135M-Instruct"
