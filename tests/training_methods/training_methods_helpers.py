"""Helpers for the training-method tests (imported by name: conftest puts this folder on sys.path)."""

from __future__ import annotations

from pathlib import Path

import torch

from app.jobs.hyperparameters import TrainHyperparameters
from worker.training.tiny_model import builtin_corpus


def make_hp(**overrides: object) -> TrainHyperparameters:
    return TrainHyperparameters(**overrides)


def load_base(path: Path, **kwargs: object) -> torch.nn.Module:
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    return AutoModelForCausalLM.from_pretrained(path, **kwargs)


def sample_batch(path: Path, rows: int = 8, length: int = 32) -> dict[str, torch.Tensor]:
    """A fixed batch of real text from the tiny model's corpus (labels = inputs, as in causal LM training)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    texts = builtin_corpus()[:: max(1, len(builtin_corpus()) // rows)][:rows]
    enc = tokenizer(texts, padding="max_length", truncation=True, max_length=length, return_tensors="pt")
    labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], "labels": labels}


def train_steps(
    model: torch.nn.Module, batch: dict[str, torch.Tensor], *, steps: int = 8, lr: float = 1e-2
) -> list[float]:
    """AdamW on one fixed batch; an eval-mode forward after step 2 (what Trainer evaluation does, and what
    breaks 4-bit training on AVX512-BF16 CPUs without the workaround). Returns the losses."""
    params = [p for p in model.parameters() if p.requires_grad]
    assert params, "no trainable parameters"
    optimizer = torch.optim.AdamW(params, lr=lr)
    losses: list[float] = []
    for step in range(steps):
        model.train()
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
        if step == 2:
            model.eval()
            with torch.no_grad():
                model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    return losses


def assert_loss_went_down(losses: list[float]) -> None:
    first, last = sum(losses[:2]) / 2, sum(losses[-2:]) / 2
    assert last < first - 0.05, f"loss did not go down: {losses}"


def count_params(model: torch.nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
