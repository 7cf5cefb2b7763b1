"""Success hook of an evaluation job: ``scores.json`` (worker/evaluation/run.py) -> Score rows + job.result.

Runs inside the supervisor's transaction (worker/job_kinds.py SUCCESS_HOOKS), so a malformed scores file
raises and the job fails with a message instead of succeeding with no numbers.

What goes where:

* every headline number becomes one ``Score`` row (suite, metric, domain, subject, value, count): BLEU-1..4
  (sentence means and corpus), ROUGE-1/2/L, MMCU accuracy overall / per domain / per sub-file;
* the per-item arrays (paired bootstrap input) and the example generations stay in ``job.result``, because
  they are only ever read whole, for one comparison.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app.models import Job, Score, utcnow

# MMCU's four domains (worker/evaluation/mmcu_data.py DOMAINS); a sub-file named 教育_数学 belongs to 教育.
MMCU_DOMAINS = ("医疗", "法律", "心理", "教育")
MAX_SAMPLES = 200  # example generations kept per evaluation (the side-by-side shows a few dozen at most)


class ScoresFileError(ValueError):
    """scores.json is missing or not the engine's shape; the message names what is wrong."""


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def text_metric_rows(block: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Flatten a BLEU or ROUGE block to {metric: value}.

    Accepts the engine's ``bleu_scores`` shape (``{"sentence": {...}, "corpus": {...}, "per_item", "n"}``:
    sentence means keep the bare names bleu1..4, corpus scores become ``corpus_bleu1``..) and flat
    ``{"rouge-1": 12.3, ...}`` blocks. Lists, strings and counts are not metrics."""
    out: dict[str, float] = {}
    for key, value in block.items():
        if key in ("per_item", "n", "tokenization", "smoothing"):
            continue
        if isinstance(value, dict):
            sub_prefix = "" if key == "sentence" else f"{key}_"
            out.update(text_metric_rows(value, prefix + sub_prefix))
        elif (number := _number(value)) is not None:
            out[prefix + key] = number
    return out


def subject_domain(subject: str, domains: dict[str, Any], explicit: dict[str, str]) -> str | None:
    """The domain of an MMCU sub-file: the engine's own mapping when it gives one; else 教育_x -> 教育,
    心理 -> 心理; the medical sub-files are sheets of 医疗.xlsx (临床医学20题), so an unknown name falls to
    医疗 when that domain was scored (MMCU's layout: only 医疗 is split by sheet)."""
    if subject in explicit:
        return explicit[subject]
    head = subject.split("_", 1)[0]
    if head in MMCU_DOMAINS:
        return head
    if subject in domains:
        return subject
    return "医疗" if "医疗" in domains else None


def mmcu_rows(block: dict[str, Any]) -> list[dict[str, Any]]:
    """MMCU accuracy rows: overall (macro: unweighted mean of domains, as MMCU publishes), overall micro,
    each domain, each sub-file."""
    counts = block.get("counts") or {}
    domains = block.get("domains") or {}
    subjects = block.get("subjects") or {}
    if _number(block.get("overall")) is None or not isinstance(domains, dict):
        raise ScoresFileError("scores.json: mmcu needs a numeric 'overall' and a 'domains' mapping")
    rows = [{"metric": "accuracy", "value": float(block["overall"]), "count": counts.get("overall")}]
    if (micro := _number(block.get("overall_micro"))) is not None:
        rows.append({"metric": "accuracy_micro", "value": micro, "count": counts.get("overall")})
    domain_counts = counts.get("domains") or {}
    for domain, value in domains.items():
        if (number := _number(value)) is not None:
            rows.append(
                {"metric": "accuracy", "domain": domain, "value": number, "count": domain_counts.get(domain)}
            )
    subject_counts = counts.get("subjects") or {}
    explicit = block.get("subject_domains") or {}
    for subject, value in subjects.items():
        if (number := _number(value)) is not None:
            rows.append(
                {
                    "metric": "accuracy",
                    "domain": subject_domain(subject, domains, explicit),
                    "subject": subject,
                    "value": number,
                    "count": subject_counts.get(subject),
                }
            )
    return rows


def _int_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def score_rows(scores: dict[str, Any]) -> list[dict[str, Any]]:
    """All Score rows (as dicts) of one scores.json."""
    rows: list[dict[str, Any]] = []
    for suite_block in ("bleu", "rouge"):
        block = scores.get(suite_block)
        if block is None:
            continue
        if not isinstance(block, dict):
            raise ScoresFileError(f"scores.json: '{suite_block}' must be an object")
        n = _int_or_none(block.get("n"))
        for metric, value in text_metric_rows(block).items():
            rows.append({"suite": "bleu_rouge", "metric": metric, "value": value, "count": n})
    mmcu = scores.get("mmcu")
    if mmcu is not None:
        if not isinstance(mmcu, dict):
            raise ScoresFileError("scores.json: 'mmcu' must be an object")
        rows.extend({"suite": "mmcu", **row} for row in mmcu_rows(mmcu))
    return rows


def per_item_arrays(scores: dict[str, Any]) -> dict[str, list]:
    """Per-item arrays for the paired bootstrap: the top-level ``per_item`` plus those inside the bleu and
    rouge blocks (bleu1..4, rouge-1/2/l), under their metric names."""
    arrays: dict[str, list] = {}
    for block_name in ("bleu", "rouge"):
        block = scores.get(block_name) or {}
        inner = block.get("per_item") if isinstance(block, dict) else None
        if isinstance(inner, dict):
            arrays.update({k: v for k, v in inner.items() if isinstance(v, list)})
    top = scores.get("per_item") or {}
    if not isinstance(top, dict):
        raise ScoresFileError("scores.json: 'per_item' must map a metric to a list")
    arrays.update({k: v for k, v in top.items() if isinstance(v, list)})
    mmcu = scores.get("mmcu")
    # score_predictions' own per-question verdicts, when the engine passes them through.
    if isinstance(mmcu, dict) and isinstance(mmcu.get("per_item"), list) and "mmcu_correct" not in arrays:
        arrays["mmcu_correct"] = [bool(item.get("correct")) for item in mmcu["per_item"]]
    return arrays


def read_scores(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / "scores.json"
    if not path.is_file():
        raise ScoresFileError(f"the evaluation finished without writing {path.name}")
    try:
        scores = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ScoresFileError(f"{path.name} is not valid JSON ({exc.msg} at line {exc.lineno})") from exc
    if not isinstance(scores, dict):
        raise ScoresFileError(f"{path.name} must hold one JSON object")
    return scores


def save_scores(session: Session, job: Job, run_dir: Path) -> None:
    """Insert the Score rows of a finished evaluation and keep per-item arrays + samples in job.result.

    Idempotent: a second call (a retried hook) replaces the rows instead of doubling them."""
    scores = read_scores(run_dir)
    rows = score_rows(scores)
    if not rows:
        raise ScoresFileError("scores.json holds no bleu, rouge or mmcu numbers")
    session.query(Score).filter(Score.job_id == job.id).delete()
    now = utcnow()
    for row in rows:
        session.add(
            Score(
                job_id=job.id,
                suite=row["suite"],
                metric=row["metric"],
                domain=row.get("domain"),
                subject=row.get("subject"),
                value=row["value"],
                count=_int_or_none(row.get("count")),
                created_at=now,
            )
        )
    samples = scores.get("samples") or []
    if not isinstance(samples, list):
        raise ScoresFileError("scores.json: 'samples' must be a list")
    mmcu = scores.get("mmcu") if isinstance(scores.get("mmcu"), dict) else {}
    job.result = {
        **(job.result or {}),
        "per_item": per_item_arrays(scores),
        "samples": samples[:MAX_SAMPLES],
        "mmcu_counts": (mmcu or {}).get("counts"),
    }
