"""Pure parts of the scorecard, on real metric code and the shared MMCU-layout sample: the success hook's
Score rows, the paired bootstrap intervals of a comparison, the compare form. No worker, no torch."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.evaluations.compare import chart_bars, comparison_rows, macro_accuracy_interval, pair_samples
from app.evaluations.views import suite_from_form
from worker.hooks.evaluation import ScoresFileError, per_item_arrays, read_scores, score_rows

REFERENCES = [
    "睡前可以试着把担心写下来。",
    "考前紧张很常见，先把复习拆成小块。",
    "你愿意说说最近一次争执吗？",
] * 4


@dataclass
class Row:
    suite: str
    metric: str
    domain: str | None
    subject: str | None
    value: float
    count: int | None = None


def _scores_json(predictions: list[str], mmcu_result: dict | None) -> dict:
    """scores.json as worker/evaluation/run.py writes it, built from the real metric functions."""
    from worker.evaluation.text_metrics import bleu_scores, rouge_scores

    bleu = bleu_scores(predictions, REFERENCES)
    rouge = rouge_scores(predictions, REFERENCES)
    scores: dict = {
        "bleu": {
            "sentence": bleu["sentence"],
            "corpus": bleu["corpus"],
            "tokenization": "char",
            "n": bleu["n"],
        },
        "rouge": {k: rouge[k] for k in ("rouge-1", "rouge-2", "rouge-l", "n")},
        "per_item": {"bleu4": bleu["per_item"]["bleu4"]},
        "samples": [
            {"id": f"r{i}", "prompt": f"q{i}", "prediction": p, "reference": r}
            for i, (p, r) in enumerate(zip(predictions, REFERENCES, strict=True))
        ],
    }
    if mmcu_result:
        scores["mmcu"] = {
            k: mmcu_result[k] for k in ("overall", "overall_micro", "domains", "subjects", "counts")
        }
        scores["per_item"]["mmcu_correct"] = [int(i["correct"]) for i in mmcu_result["per_item"]]
        scores["per_item"]["mmcu_keys"] = [[i["file"], i["sheet"], i["row"]] for i in mmcu_result["per_item"]]
    return scores


def _mmcu(mmcu_sample: Path, right_share: float, seed: int) -> tuple[list, dict]:
    from worker.evaluation.mmcu_data import read_questions
    from worker.evaluation.mmcu_scoring import score_predictions

    questions, _ = read_questions(mmcu_sample)
    rng = random.Random(seed)
    predictions = {
        q.key: (q.answer if rng.random() < right_share else "A" if q.answer != "A" else "B")
        for q in questions
    }
    return questions, score_predictions(questions, predictions)


def _as_rows(scores: dict) -> list[Row]:
    return [Row(**{"domain": None, "subject": None, **r}) for r in score_rows(scores)]


def test_score_rows_carry_every_number_with_its_domain(mmcu_sample: Path) -> None:
    questions, mmcu = _mmcu(mmcu_sample, 0.4, seed=1)
    scores = _scores_json([r[:-3] for r in REFERENCES], mmcu)
    rows = {(r.suite, r.metric, r.domain, r.subject): r for r in _as_rows(scores)}
    for n in range(1, 5):
        assert rows[("bleu_rouge", f"bleu{n}", None, None)].value == pytest.approx(
            scores["bleu"]["sentence"][f"bleu{n}"]
        )
        assert rows[("bleu_rouge", f"corpus_bleu{n}", None, None)].value == pytest.approx(
            scores["bleu"]["corpus"][f"bleu{n}"]
        )
    assert rows[("bleu_rouge", "rouge-l", None, None)].count == len(REFERENCES)
    assert rows[("mmcu", "accuracy", None, None)].value == pytest.approx(mmcu["overall"])
    assert rows[("mmcu", "accuracy_micro", None, None)].count == mmcu["counts"]["overall"]
    # Every sub-file lands under the domain the data reader gives it (医疗 sheets included).
    truth = {q.subject: q.domain for q in questions}
    subject_rows = [r for r in rows.values() if r.subject]
    assert {r.subject: r.domain for r in subject_rows} == truth
    assert all(r.count == mmcu["counts"]["subjects"][r.subject] for r in subject_rows)
    items = per_item_arrays(scores)
    assert len(items["mmcu_correct"]) == len(items["mmcu_keys"]) == mmcu["counts"]["overall"]


def test_bad_scores_files_fail_the_hook_with_a_reason(tmp_path: Path) -> None:
    with pytest.raises(ScoresFileError, match="without writing scores.json"):
        read_scores(tmp_path)
    (tmp_path / "scores.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ScoresFileError, match="not valid JSON"):
        read_scores(tmp_path)
    with pytest.raises(ScoresFileError, match="mmcu needs a numeric 'overall'"):
        score_rows({"mmcu": {"domains": {}}})
    with pytest.raises(ScoresFileError, match="per_item"):
        per_item_arrays({"per_item": [1, 2]})


def test_macro_interval_reproduces_mmcu_aggregation_and_brackets_the_difference(mmcu_sample: Path) -> None:
    _, base = _mmcu(mmcu_sample, 0.3, seed=2)
    _, tuned = _mmcu(mmcu_sample, 0.6, seed=3)
    keys = [[i["file"], i["sheet"], i["row"]] for i in base["per_item"]]
    ci = macro_accuracy_interval(
        keys, [i["correct"] for i in base["per_item"]], [i["correct"] for i in tuned["per_item"]]
    )
    # On all questions the statistic IS MMCU's macro mean (domains of sub-files), as score_predictions has it.
    assert ci["diff"] == pytest.approx(tuned["overall"] - base["overall"])
    assert ci["low"] < ci["diff"] < ci["high"] and ci["significant"]  # 30 % vs 60 % over 320 questions
    same = macro_accuracy_interval(
        keys, [i["correct"] for i in base["per_item"]], [i["correct"] for i in base["per_item"]]
    )
    assert same["low"] == same["high"] == 0.0 and not same["significant"]


def test_comparison_rows_pair_items_and_explain_missing_intervals(mmcu_sample: Path) -> None:
    _, mmcu_a = _mmcu(mmcu_sample, 0.3, seed=4)
    _, mmcu_b = _mmcu(mmcu_sample, 0.35, seed=5)
    a = _scores_json([r[:4] for r in REFERENCES], mmcu_a)
    b = _scores_json([r[:-2] for r in REFERENCES], mmcu_b)
    rows, notes = comparison_rows(
        _as_rows(a), _as_rows(b), per_item_arrays(a), per_item_arrays(b), n_resamples=500
    )
    by = {(r["suite"], r["metric"], r["domain"], r["subject"]): r for r in rows}
    bleu4 = by[("bleu_rouge", "bleu4", None, None)]
    assert bleu4["diff"] == pytest.approx(b["bleu"]["sentence"]["bleu4"] - a["bleu"]["sentence"]["bleu4"])
    assert bleu4["ci_low"] <= bleu4["diff"] <= bleu4["ci_high"] and bleu4["n_items"] == len(REFERENCES)
    assert by[("mmcu", "accuracy", None, None)]["ci_low"] is not None
    assert by[("mmcu", "accuracy_micro", None, None)]["n_items"] == mmcu_a["counts"]["overall"]
    # rouge keeps no per-item list in scores.json: a difference, no interval, and a note saying why.
    assert by[("bleu_rouge", "rouge-l", None, None)]["ci_low"] is None
    assert any(n.startswith("rouge-l: no interval") for n in notes)
    # Different item counts cannot be paired.
    shorter = {**per_item_arrays(b), "bleu4": per_item_arrays(b)["bleu4"][:5]}
    rows, notes = comparison_rows(_as_rows(a), _as_rows(b), per_item_arrays(a), shorter, n_resamples=200)
    assert any("different items (12 vs 5)" in n for n in notes)
    assert [bar["label"] for bar in chart_bars(rows, suite="bleu_rouge")] == [
        "bleu1",
        "bleu2",
        "bleu3",
        "bleu4",
        "rouge-1",
        "rouge-2",
        "rouge-l",
    ]
    bars = chart_bars(rows, suite="mmcu")
    assert [bar["label"] for bar in bars][0] == "accuracy" and max(
        max(x["base_frac"], x["tuned_frac"]) for x in bars
    ) == 1
    pairs = pair_samples(a["samples"], b["samples"], limit=3)
    assert [(p["base"], p["tuned"]) for p in pairs] == [
        (REFERENCES[i][:4], REFERENCES[i][:-2]) for i in range(3)
    ]


def test_a_three_point_bleu_gap_at_forty_prompts_can_be_noise() -> None:
    """The issue's measurement, reproduced in shape: two systems with the SAME per-prompt BLEU-4 spread,
    one shifted by 3 points, at 40 prompts: the paired interval is wide enough to include 0 when the
    per-prompt differences are as noisy as real generations (sd ~ 12 BLEU points)."""
    rng = random.Random(7)
    base = [max(0.0, rng.gauss(20, 12)) for _ in range(40)]
    tuned = [max(0.0, b + 3 + rng.gauss(0, 12)) for b in base]
    rows, _ = comparison_rows(
        [Row("bleu_rouge", "bleu4", None, None, sum(base) / 40)],
        [Row("bleu_rouge", "bleu4", None, None, sum(tuned) / 40)],
        {"bleu4": base},
        {"bleu4": tuned},
    )
    assert rows[0]["ci_low"] < 0 < rows[0]["ci_high"] and rows[0]["significant"] is False


def test_compare_form_builds_the_suite() -> None:
    suite = suite_from_form(
        {
            "bleu_rouge": "1",
            "bleu_limit": "12",
            "preset": "course",
            "max_new_tokens": "32",
            "mmcu": "1",
            "mmcu_data_dir": " /data/MMCU ",
            "mmcu_mode": "reference",
            "mmcu_limit": "",
        }
    )
    assert suite.bleu_rouge.limit == 12 and suite.bleu_rouge.generation == {
        "preset": "course",
        "max_new_tokens": 32,
    }
    assert suite.mmcu.data_dir == "/data/MMCU" and suite.mmcu.mode == "reference" and suite.mmcu.limit is None
    only_mmcu = suite_from_form({"mmcu": "1", "mmcu_data_dir": "/d"})
    assert only_mmcu.bleu_rouge is None and only_mmcu.mmcu.mode == "likelihood"
