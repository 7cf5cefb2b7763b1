"""`ftstudio eval bleu|mmcu`: same numbers as the functions, clear errors, no torch import in app/."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import typer
from typer.testing import CliRunner

from app.cli.eval_command import register
from worker.evaluation.mmcu_data import read_mmcu_dir
from worker.evaluation.text_metrics import bleu_scores, rouge_scores

REPO = Path(__file__).resolve().parents[2]
PREDS = ["我今天很开心", "你可以和朋友聊一聊", "焦虑很常见"]
REFS = ["今天我很开心", "试着和信任的朋友聊一聊", "焦虑是常见的情绪"]


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """root"""

    register(app)
    return app


def _jsonl(path: Path, texts: list[str], order: list[int]) -> Path:
    path.write_text(
        "\n".join(json.dumps({"id": f"q{i}", "text": texts[i]}, ensure_ascii=False) for i in order)
    )
    return path


def test_eval_bleu_json_equals_library_numbers(tmp_path: Path) -> None:
    p = _jsonl(tmp_path / "p.jsonl", PREDS, [2, 0, 1])  # order differs: pairing is by id
    r = _jsonl(tmp_path / "r.jsonl", REFS, [0, 1, 2])
    result = CliRunner().invoke(
        _app(), ["eval", "bleu", "--predictions", str(p), "--references", str(r), "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    expected = bleu_scores(PREDS, REFS)
    assert data["bleu"]["sentence"] == expected["sentence"] and data["bleu"]["corpus"] == expected["corpus"]
    assert data["rouge"]["rouge-l"] == rouge_scores(PREDS, REFS)["rouge-l"]


def test_eval_bleu_baseline_and_errors(tmp_path: Path) -> None:
    p = _jsonl(tmp_path / "p.jsonl", PREDS, [0, 1, 2])
    r = _jsonl(tmp_path / "r.jsonl", REFS, [0, 1, 2])
    b = _jsonl(tmp_path / "b.jsonl", ["嗯", "好", "是"], [0, 1, 2])
    args = ["eval", "bleu", "--predictions", str(p), "--references", str(r), "--baseline", str(b), "--json"]
    data = json.loads(CliRunner().invoke(_app(), args).output)
    assert data["vs_baseline"]["bleu4"]["diff"] > 0
    short = _jsonl(tmp_path / "s.jsonl", PREDS, [0, 1])
    result = CliRunner().invoke(_app(), ["eval", "bleu", "--predictions", str(short), "--references", str(r)])
    assert result.exit_code == 2 and "ids differ" in result.output


def test_eval_mmcu_predictions(tmp_path: Path, mmcu_sample: Path) -> None:
    questions = read_mmcu_dir(mmcu_sample)
    lines = [
        {"file": q.file, "sheet": q.sheet, "row": q.row, "answer": q.answer if q.domain == "法律" else "Z"}
        for q in questions
    ]
    path = tmp_path / "pred.jsonl"
    path.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines), encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(
        _app(), ["eval", "mmcu", "--predictions", str(path), "--data", str(mmcu_sample), "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["domains"] == {"医疗": 0.0, "法律": 1.0, "心理": 0.0, "教育": 0.0}
    assert data["overall"] == 0.25 and data["counts"]["overall"] == 320
    text = runner.invoke(
        _app(), ["eval", "mmcu", "--predictions", str(path), "--data", str(mmcu_sample)]
    ).output
    assert "GPT-3.5-turbo" in text and "法律" in text
    both = runner.invoke(_app(), ["eval", "mmcu", "--predictions", str(path), "--model", "x", "--data", "."])
    assert both.exit_code == 2 and "exactly one" in both.output


def test_app_cli_does_not_import_torch() -> None:
    code = "import sys, app.cli.eval_command; print('torch' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


def test_eval_mmcu_with_a_model(tiny_model_dir: Path, mmcu_sample: Path) -> None:
    args = [
        "eval",
        "mmcu",
        "--model",
        str(tiny_model_dir),
        "--data",
        str(mmcu_sample),
        "--limit",
        "5",
        "--json",
    ]
    result = CliRunner().invoke(_app(), args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)  # progress bars go to stderr
    assert data["counts"]["overall"] == 5 and data["mode"] == "likelihood"
    bad = CliRunner().invoke(_app(), [*args[:-1], "--mode", "guess"])
    assert bad.exit_code == 2 and "reference or likelihood" in bad.output
