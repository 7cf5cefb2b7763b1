"""The evaluation child: ``python -m worker.evaluation.run --config RUN_DIR/config.json``.

Same conventions as the training child (docs/CONTRACTS.md): it writes only inside RUN_DIR; metrics.jsonl
events ``start`` (total_steps = items to evaluate), ``progress`` after every batch, ``end`` (succeeded |
cancelled); ``scores.json`` with the aggregate scores and per-item lists (so the lead can compute paired
bootstrap intervals between two runs on the same items) and ``predictions.jsonl``. SIGTERM/SIGINT stop
between batches: the scores of what finished are written and the end status is ``cancelled`` (exit 0). Bad
input exits 2 with error.json ``{"error": ...}``.

config.json::

    {"job_id": 3, "run_dir": "/abs/run",
     "model": {"path": "...", "gguf_file": null, "trust_remote_code": false, "adapter_path": null},
     "suite": {"bleu_rouge": {"rows_path": "val.jsonl", "limit": 200, "generation": {"preset": "course"},
                              "batch_size": 8} | null,
               "mmcu": {"data_dir": "...", "mode": "likelihood", "shots": 0, "limit": null} | null}}
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from worker.quiet_logs import quiet_third_party_noise
from worker.training.events import EventWriter, write_error
from worker.training.stop import StopFlag

SCORES_FILE = "scores.json"
PREDICTIONS_FILE = "predictions.jsonl"
N_SAMPLES = 20


class ModelSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str
    gguf_file: str | None = None
    trust_remote_code: bool = False
    adapter_path: str | None = None


class BleuRougeSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rows_path: str
    limit: int | None = Field(None, ge=1)
    generation: dict[str, Any] = Field(default_factory=dict)
    batch_size: int = Field(8, ge=1, le=256)


class MmcuSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    data_dir: str
    mode: Literal["reference", "likelihood"] = "likelihood"
    shots: int = Field(0, ge=0, le=10)
    limit: int | None = Field(None, ge=1)
    batch_size: int = Field(4, ge=1, le=256)


class Suite(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bleu_rouge: BleuRougeSpec | None = None
    mmcu: MmcuSpec | None = None


class EvalConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    job_id: int | str | None = None
    run_dir: str
    model: ModelSpec
    suite: Suite


class UserError(Exception):
    """Bad input a user can fix; becomes error.json and exit code 2."""


def read_rows(path: str, limit: int | None) -> list[dict]:
    """Normalised rows (docs/CONTRACTS.md); the LAST assistant turn of each is the reference. Rows without a
    user turn followed by an assistant turn are skipped (CPsyCounD dialogues may end on a user turn)."""
    from worker.evaluation.generation import split_row

    p = Path(path)
    if not p.is_file():
        raise UserError(f"rows file {path} does not exist")
    rows = []
    for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            split_row(row)
        except json.JSONDecodeError as exc:
            raise UserError(f"{path}:{n}: not valid JSON ({exc.msg})") from None
        except ValueError:
            continue
        rows.append(row)
        if limit and len(rows) >= limit:
            break
    if not rows:
        raise UserError(f"{path}: no row with a user turn followed by an assistant turn")
    return rows


def _bleu_rouge(
    spec: BleuRougeSpec, model: Any, tok: Any, stop: StopFlag, progress: Any, rows: list[dict]
) -> dict:
    from worker.evaluation.generation import generate_texts, render_prompt, resolve_generation, split_row
    from worker.evaluation.text_metrics import bleu_scores, llamafactory_scores, rouge_scores

    gen = dict(spec.generation)
    settings = resolve_generation(gen.pop("preset", "course"), gen)
    pairs = [split_row(r) for r in rows]
    rendered = [render_prompt(tok, messages) for messages, _ in pairs]
    outputs = generate_texts(
        model,
        tok,
        [t for t, _ in rendered],
        settings,
        batch_size=spec.batch_size,
        templated=rendered[0][1],
        should_stop=lambda: stop.requested,
        on_batch=lambda done, total: progress(done),
    )
    if not outputs:
        return {}
    # The first returned sequence is the model's best (beam search sorts by score); it is what is scored.
    preds = [o[0] for o in outputs]
    refs = [ref for _, ref in pairs[: len(preds)]]
    bleu = bleu_scores(preds, refs, tokenization="char", smoothing="method3")
    bleu_jieba = bleu_scores(preds, refs, tokenization="jieba", smoothing="method3")
    rouge = rouge_scores(preds, refs)
    return {
        "bleu": {
            "sentence": bleu["sentence"],
            "corpus": bleu["corpus"],
            "tokenization": "char",
            "smoothing": "method3",
            "jieba": {"sentence": bleu_jieba["sentence"], "corpus": bleu_jieba["corpus"]},
            "llamafactory": llamafactory_scores(preds, refs),
            "n": len(preds),
        },
        "rouge": {k: rouge[k] for k in ("rouge-1", "rouge-2", "rouge-l", "n")},
        # Every headline metric per prompt (bleu1..4, rouge-1/2/l): the base-vs-fine-tuned page puts a
        # paired bootstrap interval on each; with bleu4 alone the others said "per-item scores missing".
        "per_item": {**bleu["per_item"], **rouge["per_item"]},
        "items": [
            {
                "id": r.get("id"),
                "prompt": m[-1]["content"],
                "prediction": p,
                "predictions": o,
                "reference": ref,
            }
            for r, (m, ref), p, o in zip(rows, pairs, preds, outputs, strict=False)
        ],
    }


def run(config: EvalConfig, stop: StopFlag) -> int:
    from worker.evaluation.loading import load_for_eval
    from worker.evaluation.mmcu_data import read_questions
    from worker.evaluation.mmcu_harness import answer_likelihood, answer_reference
    from worker.evaluation.mmcu_scoring import score_predictions

    run_dir = Path(config.run_dir)
    writer = EventWriter(run_dir)
    suite = config.suite
    if suite.bleu_rouge is None and suite.mmcu is None:
        raise UserError("the suite is empty: choose bleu_rouge, mmcu or both")
    rows = read_rows(suite.bleu_rouge.rows_path, suite.bleu_rouge.limit) if suite.bleu_rouge else []
    questions, dev = read_questions(suite.mmcu.data_dir) if suite.mmcu else ([], {})
    if suite.mmcu and suite.mmcu.limit:
        questions = questions[: suite.mmcu.limit]
    total = len(rows) + len(questions)
    writer.write("start", total_steps=total)
    m = config.model
    model, tok = load_for_eval(
        m.path, gguf_file=m.gguf_file, trust_remote_code=m.trust_remote_code, adapter_path=m.adapter_path
    )
    scores: dict[str, Any] = {"per_item": {}, "samples": []}
    done_before = 0

    def progress(done: int) -> None:
        writer.write("progress", step=done_before + done, total_steps=total)

    predictions: list[dict] = []
    if suite.bleu_rouge:
        result = _bleu_rouge(suite.bleu_rouge, model, tok, stop, progress, rows)
        if result:
            scores["bleu"], scores["rouge"] = result["bleu"], result["rouge"]
            scores["per_item"].update(result["per_item"])
            scores["per_item"]["bleu_ids"] = [item["id"] for item in result["items"]]
            scores["samples"] = result["items"][:N_SAMPLES]
            predictions += [{"suite": "bleu_rouge", **item} for item in result["items"]]
        done_before = len(rows)
    if suite.mmcu and not stop.requested:
        answer = answer_likelihood if suite.mmcu.mode == "likelihood" else answer_reference
        answers = answer(
            model,
            tok,
            questions,
            dev,
            shots=suite.mmcu.shots,
            batch_size=suite.mmcu.batch_size,
            should_stop=lambda: stop.requested,
            on_progress=lambda done, _total: progress(done),
        )
        if answers:
            answered = {(a["file"], a["sheet"], a["row"]) for a in answers}
            result = score_predictions(
                [q for q in questions if q.key in answered],
                {(a["file"], a["sheet"], a["row"]): a["answer"] for a in answers},
            )
            scores["mmcu"] = {
                k: result[k] for k in ("overall", "overall_micro", "domains", "subjects", "counts")
            }
            scores["mmcu"]["mode"], scores["mmcu"]["shots"] = suite.mmcu.mode, suite.mmcu.shots
            scores["per_item"]["mmcu_correct"] = [int(i["correct"]) for i in result["per_item"]]
            scores["per_item"]["mmcu_keys"] = [[i["file"], i["sheet"], i["row"]] for i in result["per_item"]]
            predictions += [{"suite": "mmcu", **a} for a in answers]
    _write_json(run_dir / SCORES_FILE, scores)
    with (run_dir / PREDICTIONS_FILE).open("w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(p, ensure_ascii=False) + "\n" for p in predictions)
    status = "cancelled" if stop.requested else "succeeded"
    writer.write(
        "end", status=status, step=done_before + len([p for p in predictions if p["suite"] == "mmcu"])
    )
    return 0


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    stop = StopFlag()
    stop.install()  # first thing: a cancel during the slow imports is a clean stop
    quiet_third_party_noise()
    parser = argparse.ArgumentParser(prog="python -m worker.evaluation.run")
    parser.add_argument("--config", required=True, type=Path)
    args = parser.parse_args(argv)
    run_dir = args.config.parent
    try:
        config = EvalConfig.model_validate(json.loads(args.config.read_text(encoding="utf-8")))
        run_dir = Path(config.run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
    except (OSError, json.JSONDecodeError) as exc:
        message = f"could not read the evaluation config {args.config}: {exc}"
    except ValidationError as exc:
        message = "invalid evaluation config: " + "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
        )
    else:
        try:
            return run(config, stop)
        except (UserError, ValueError) as exc:
            # UserError, McDataError, ModelLoadError, bad generation settings: each names the problem.
            message = str(exc)
    write_error(run_dir, message)
    print(f"error: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
