"""What ``ftstudio eval ...`` calls (app/cli/eval_command.py imports this lazily, inside the commands).

Scoring functions here are pure; ``mmcu_with_model`` imports torch only when called.
"""

from __future__ import annotations

import json
from pathlib import Path

from worker.evaluation.mmcu_data import McQuestion, read_questions
from worker.evaluation.mmcu_scoring import leaderboard, read_predictions, score_predictions
from worker.evaluation.text_metrics import bleu_scores, rouge_scores


class CliInputError(ValueError):
    """Bad files or options; the message names the file and line."""


def read_texts(path: Path) -> dict[str, str]:
    """JSONL, one ``{"id", "text"}`` a line -> {id: text}."""
    if not Path(path).is_file():
        raise CliInputError(f"{path}: no such file")
    out: dict[str, str] = {}
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            key, text = str(rec["id"]), rec["text"]
        except json.JSONDecodeError as exc:
            raise CliInputError(f"{path}:{n}: not valid JSON ({exc.msg})") from None
        except (KeyError, TypeError):
            raise CliInputError(f'{path}:{n}: each line needs "id" and "text"') from None
        if not isinstance(text, str):
            raise CliInputError(f"{path}:{n}: text must be a string")
        if key in out:
            raise CliInputError(f"{path}:{n}: id {key!r} appears twice")
        out[key] = text
    if not out:
        raise CliInputError(f"{path}: no lines")
    return out


def bleu_from_files(
    predictions: Path,
    references: Path,
    *,
    tokenization: str = "char",
    smoothing: str = "method3",
    baseline: Path | None = None,
) -> dict:
    """BLEU-1..4 (sentence and corpus) and ROUGE-1/2/L of predictions paired with references by id.

    With ``baseline`` (another predictions file for the same ids), adds the paired bootstrap 95 % interval of
    the sentence BLEU-4 and ROUGE-L gains (predictions minus baseline)."""
    preds, refs = read_texts(predictions), read_texts(references)
    missing = sorted(set(refs) - set(preds))
    extra = sorted(set(preds) - set(refs))
    if missing or extra:
        raise CliInputError(
            f"ids differ: {len(missing)} references without a prediction (e.g. {missing[:3]}), "
            f"{len(extra)} predictions without a reference (e.g. {extra[:3]})"
        )
    ids = sorted(refs)
    p, r = [preds[i] for i in ids], [refs[i] for i in ids]
    bleu = bleu_scores(p, r, tokenization=tokenization, smoothing=smoothing)  # type: ignore[arg-type]
    rouge = rouge_scores(p, r)
    result = {
        "n": len(ids),
        "bleu": {k: bleu[k] for k in ("sentence", "corpus", "tokenization", "smoothing")},
        "rouge": {k: rouge[k] for k in ("rouge-1", "rouge-2", "rouge-l")},
    }
    if baseline is not None:
        from worker.evaluation.bootstrap import paired_bootstrap_mean_diff

        base = read_texts(baseline)
        if sorted(base) != ids:
            raise CliInputError(f"{baseline}: the baseline must hold the same ids as {references}")
        b = [base[i] for i in ids]
        b_bleu = bleu_scores(b, r, tokenization=tokenization, smoothing=smoothing)  # type: ignore[arg-type]
        b_rouge = rouge_scores(b, r)
        result["vs_baseline"] = {
            "bleu4": paired_bootstrap_mean_diff(
                b_bleu["per_item"]["bleu4"], bleu["per_item"]["bleu4"]
            ).to_dict(),
            "rouge-l": paired_bootstrap_mean_diff(
                b_rouge["per_item"]["rouge-l"], rouge["per_item"]["rouge-l"]
            ).to_dict(),
        }
    return result


def _public(result: dict) -> dict:
    return {k: result[k] for k in ("overall", "overall_micro", "domains", "subjects", "counts")}


def mmcu_from_predictions(predictions: Path, data: Path) -> dict:
    """Score a predictions JSONL (file, sheet, row, answer) against an MMCU folder or a flat file."""
    questions, _ = read_questions(data)
    return _public(score_predictions(questions, read_predictions(predictions)))


def mmcu_with_model(
    model: str,
    data: Path,
    *,
    mode: str = "likelihood",
    shots: int = 0,
    limit: int | None = None,
    batch_size: int = 4,
    adapter: str | None = None,
    trust_remote_code: bool = False,
) -> dict:
    """Answer with a model (``reference`` = MMCU's generate-and-extract protocol, ``likelihood`` = ranking),
    then score. ``limit`` takes the first N questions."""
    from worker.evaluation.loading import load_for_eval
    from worker.evaluation.mmcu_harness import answer_likelihood, answer_reference

    if mode not in ("reference", "likelihood"):
        raise CliInputError(f"--mode must be reference or likelihood, not {mode!r}")
    questions, dev = read_questions(data)
    if limit:
        questions = questions[:limit]
    lm, tok = load_for_eval(model, trust_remote_code=trust_remote_code, adapter_path=adapter)
    answer = answer_likelihood if mode == "likelihood" else answer_reference
    answers = answer(lm, tok, questions, dev, shots=shots, batch_size=batch_size)
    result = _public(
        score_predictions(questions, {(a["file"], a["sheet"], a["row"]): a["answer"] for a in answers})
    )
    result.update(mode=mode, shots=shots, model=model)
    return result


def format_mmcu(result: dict, name: str = "this run") -> str:
    """A plain-text report: subjects, domains, overall, then the leaderboard beside MMCU's published rows."""
    lines = [f"{'subject':<16}{'n':>6}{'acc':>8}"]
    for s, acc in sorted(result["subjects"].items()):
        lines.append(f"{s:<16}{result['counts']['subjects'][s]:>6}{acc:>8.3f}")
    lines.append("")
    for d, acc in sorted(result["domains"].items()):
        lines.append(f"{d:<16}{result['counts']['domains'][d]:>6}{acc:>8.3f}")
    lines.append(f"{'overall':<16}{result['counts']['overall']:>6}{result['overall']:>8.3f}")
    lines += [
        "",
        "leaderboard (published MMCU zero-shot rows; ours is not on real MMCU unless --data is MMCU)",
    ]
    lines.append(f"{'model':<16}" + "".join(f"{c:>8}" for c in ("医疗", "法律", "心理", "教育", "平均")))
    for row in leaderboard({name: result}):
        cells = [row.get(c) for c in ("医疗", "法律", "心理", "教育", "overall")]
        lines.append(
            f"{row['model']:<16}" + "".join(f"{c:>8.3f}" if c is not None else f"{'-':>8}" for c in cells)
        )
    return "\n".join(lines)


def question_count(data: Path) -> int:
    questions: list[McQuestion] = read_questions(data)[0]
    return len(questions)
