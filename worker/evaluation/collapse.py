"""Training-collapse detectors. PURE: standard library only.

Signals (each reported once per run per kind, with a sentence a user can act on):

* ``non_finite_loss``: a logged training loss is NaN or infinite.
* ``loss_spike``: a loss above ``spike_factor`` x the median of the previous ``window`` losses (a running
  median is robust to the noisy single steps a mean would chase).
* ``loss_diverged``: a loss above ``diverge_factor`` x the best loss so far. The spike test alone misses a
  blow-up in the first steps (the median then already holds exploded values); a loss several times its own
  best is divergence in any phase of training. Also when ``rise_window`` logged losses in a row sit above
  ``rise_factor`` x the FIRST logged loss (the base model's own loss on the data): a fine-tune that stays
  50 % worse than where it started is making the model worse than no training at all. This catches the
  blow-ups that level off below 5x (a tiny model at learning rate 0.5: 7.0 -> 10.7 -> 13.5 -> 15.8).
* ``eval_loss_rising``: the eval loss rose ``patience`` evaluations in a row and sits above its best by more
  than ``rise_tolerance`` (relative): over-fitting or divergence.
* ``degenerate_generations`` on a sample of generations: mean character 4-gram repetition ratio above
  ``max_repetition``, a share of empty answers above ``max_empty_share``, chat-template markers leaking into
  the text, or every answer identical.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from app.i18n import in_english, sentence

# Markers of common chat templates; any of them in decoded text (special tokens are skipped when decoding)
# means the model writes the template itself instead of an answer.
TEMPLATE_MARKERS: tuple[str, ...] = (
    "<|im_start|>",
    "<|im_end|>",
    "<|endoftext|>",
    "<|assistant|>",
    "<|user|>",
    "<|system|>",
    "[INST]",
    "[/INST]",
    "<s>",
    "</s>",
    "<|eot_id|>",
    "<|start_header_id|>",
)


@dataclass(frozen=True)
class CollapseSignal:
    kind: str
    step: int
    said: dict  # app.i18n.sentence: the job page says it in the reader's language

    @property
    def reason(self) -> str:
        return in_english(self.said)

    def event(self, action: str) -> dict:
        """The ``collapse`` event of docs/CONTRACTS.md: the reason in English and as a sentence."""
        return {
            "event": "collapse",
            "step": self.step,
            "kind": self.kind,
            "reason": self.reason,
            "said": self.said,
            "action": action,
        }


def repetition_ratio(text: str, n: int = 4) -> float:
    """Share of character n-grams that repeat an earlier one: 0 for fresh text, near 1 for a loop."""
    grams = [text[i : i + n] for i in range(len(text) - n + 1)]
    return 1.0 - len(set(grams)) / len(grams) if grams else 0.0


def generation_health(predictions: Sequence[str], markers: Sequence[str] = TEMPLATE_MARKERS) -> dict:
    """What the detector and the quick-eval event share: repetition, empty share, leaks, distinct answers."""
    texts = [p.strip() for p in predictions]
    n = len(texts)
    return {
        "n": n,
        "repetition": sum(repetition_ratio(t) for t in texts) / n if n else 0.0,
        "empty_share": sum(not t for t in texts) / n if n else 0.0,
        "template_leaks": sum(any(m in t for m in markers) for t in texts),
        "distinct": len(set(texts)),
    }


@dataclass
class CollapseMonitor:
    """Feed it losses, eval losses and generation samples; it returns the NEW signals (each kind once)."""

    window: int = 20
    min_history: int = 5
    spike_factor: float = 3.0
    diverge_factor: float = 5.0
    rise_factor: float = 1.5
    rise_window: int = 3
    patience: int = 3
    rise_tolerance: float = 0.05
    max_repetition: float = 0.5
    max_empty_share: float = 0.5
    markers: Sequence[str] = TEMPLATE_MARKERS
    _losses: deque = field(default_factory=deque, repr=False)
    _evals: list = field(default_factory=list, repr=False)
    _best_loss: float = field(default=math.inf, repr=False)
    _first_loss: float | None = field(default=None, repr=False)
    _above_start: int = field(default=0, repr=False)
    _fired: set = field(default_factory=set, repr=False)

    def _fire(self, kind: str, step: int, said: dict) -> list[CollapseSignal]:
        if kind in self._fired:
            return []
        self._fired.add(kind)
        return [CollapseSignal(kind, step, said)]

    def observe_loss(self, step: int, loss: float) -> list[CollapseSignal]:
        if not math.isfinite(loss):
            return self._fire(
                "non_finite_loss",
                step,
                sentence(
                    "training loss became {loss} at step {step}: lower the learning rate or use bf16/fp32",
                    loss=str(loss),
                    step=step,
                ),
            )
        out: list[CollapseSignal] = []
        if 0 < self._best_loss < math.inf and loss > self.diverge_factor * self._best_loss:
            out += self._fire(
                "loss_diverged",
                step,
                sentence(
                    "loss {loss:.4g} at step {step} is {ratio:.0f}x the best so far ({best:.4g}): training "
                    "diverged; lower the learning rate",
                    loss=loss,
                    step=step,
                    ratio=loss / self._best_loss,
                    best=self._best_loss,
                ),
            )
        if self._first_loss is None:
            self._first_loss = loss
        elif self._first_loss > 0 and loss > self.rise_factor * self._first_loss:
            self._above_start += 1
            if self._above_start >= self.rise_window:
                out += self._fire(
                    "loss_diverged",
                    step,
                    sentence(
                        "loss {loss:.4g} at step {step} has stayed above {factor:g}x the starting loss "
                        "({first:.4g}) for {logs} logs: training diverged; lower the learning rate",
                        loss=loss,
                        step=step,
                        factor=self.rise_factor,
                        first=self._first_loss,
                        logs=self._above_start,
                    ),
                )
        else:
            self._above_start = 0
        self._best_loss = min(self._best_loss, loss)
        if len(self._losses) >= self.min_history:
            median = statistics.median(self._losses)
            if median > 0 and loss > self.spike_factor * median:
                out += self._fire(
                    "loss_spike",
                    step,
                    sentence(
                        "loss spiked to {loss:.4g} at step {step}, {ratio:.1f}x the running median "
                        "{median:.4g} of the last {logs} logs: lower the learning rate",
                        loss=loss,
                        step=step,
                        ratio=loss / median,
                        median=median,
                        logs=len(self._losses),
                    ),
                )
        self._losses.append(loss)
        if len(self._losses) > self.window:
            self._losses.popleft()
        return out

    def observe_eval_loss(self, step: int, eval_loss: float) -> list[CollapseSignal]:
        if not math.isfinite(eval_loss):
            said = sentence("eval loss became {loss} at step {step}", loss=str(eval_loss), step=step)
            return self._fire("non_finite_eval_loss", step, said)
        self._evals.append(eval_loss)
        recent = self._evals[-(self.patience + 1) :]
        best = min(self._evals)
        rising = len(recent) == self.patience + 1 and all(
            b > a for a, b in zip(recent, recent[1:], strict=False)
        )
        if rising and eval_loss > best * (1 + self.rise_tolerance):
            return self._fire(
                "eval_loss_rising",
                step,
                sentence(
                    "eval loss rose {times} evaluations in a row to {loss:.4g} (best {best:.4g}) at step "
                    "{step}: the model is over-fitting or diverging; keep an earlier checkpoint",
                    times=self.patience,
                    loss=eval_loss,
                    best=best,
                    step=step,
                ),
            )
        return []

    generations_degenerate: bool = field(default=False, repr=False)  # the last sample's verdict

    def observe_generations(self, step: int, predictions: Sequence[str]) -> list[CollapseSignal]:
        if not predictions:
            return []
        h = generation_health(predictions, self.markers)
        problems = []
        if h["repetition"] > self.max_repetition:
            problems.append(
                sentence("answers repeat themselves (repetition ratio {ratio:.2f})", ratio=h["repetition"])
            )
        if h["empty_share"] > self.max_empty_share:
            problems.append(sentence("{share:.0%} of answers are empty", share=h["empty_share"]))
        if h["template_leaks"]:
            problems.append(sentence("{n} answers contain chat-template markers", n=h["template_leaks"]))
        if h["n"] >= 3 and h["distinct"] == 1 and h["empty_share"] < 1:
            problems.append(sentence("all {n} answers are the same text", n=h["n"]))
        self.generations_degenerate = bool(problems)
        if not problems:
            return []
        said = sentence("at step {step}: {problems}", step=step, problems=problems)
        return self._fire("degenerate_generations", step, said)
