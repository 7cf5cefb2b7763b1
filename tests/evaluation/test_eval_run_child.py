"""The evaluation child (python -m worker.evaluation.run) end to end on a tiny model, and its error paths."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

ROWS = [
    {"id": f"v{i}", "messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
    for i, (q, a) in enumerate(
        [
            ("我睡不好。", "试着固定作息。"),
            ("考试紧张。", "深呼吸，按计划复习。"),
            ("你好", "你好，有什么可以帮你？"),
        ]
    )
] + [{"id": "open", "messages": [{"role": "user", "content": "只有用户"}]}]


def _config(tmp_path: Path, model_dir: Path, mmcu_dir: Path | None, **suite_overrides) -> Path:
    rows = tmp_path / "val.jsonl"
    rows.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in ROWS), encoding="utf-8")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    suite = {
        "bleu_rouge": {
            "rows_path": str(rows),
            "limit": 10,
            "generation": {"preset": "course", "max_new_tokens": 6},
        },
        "mmcu": {"data_dir": str(mmcu_dir), "mode": "likelihood", "shots": 0, "limit": 6}
        if mmcu_dir
        else None,
    }
    suite.update(suite_overrides)
    config = {
        "job_id": 1,
        "run_dir": str(run_dir),
        "model": {
            "path": str(model_dir),
            "gguf_file": None,
            "trust_remote_code": False,
            "adapter_path": None,
        },
        "suite": suite,
    }
    path = run_dir / "config.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


def _events(run_dir: Path) -> list[dict]:
    path = run_dir / "metrics.jsonl"
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def _child(config: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "worker.evaluation.run", "--config", str(config)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


@pytest.mark.slow
def test_child_scores_bleu_rouge_and_mmcu(tmp_path: Path, tiny_model_dir: Path, mmcu_sample: Path) -> None:
    config = _config(tmp_path, tiny_model_dir, mmcu_sample)
    proc = _child(config)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    run_dir = config.parent
    events = _events(run_dir)
    assert events[0] == {"event": "start", "total_steps": 3 + 6}  # the user-only row is skipped
    assert events[-1]["event"] == "end" and events[-1]["status"] == "succeeded"
    steps = [e["step"] for e in events if e["event"] == "progress"]
    assert steps == sorted(steps) and steps[-1] == 9
    scores = json.loads((run_dir / "scores.json").read_text(encoding="utf-8"))
    assert set(scores["bleu"]["sentence"]) == {"bleu1", "bleu2", "bleu3", "bleu4"}
    assert {"rouge-1", "rouge-2", "rouge-l"} <= set(scores["rouge"])
    assert len(scores["per_item"]["bleu4"]) == 3 and len(scores["per_item"]["mmcu_correct"]) == 6
    assert scores["mmcu"]["counts"]["overall"] == 6 and 0 <= scores["mmcu"]["overall"] <= 1
    assert len(scores["samples"]) == 3 and len(scores["samples"][0]["predictions"]) == 3  # course: 3 returns
    # the per-item BLEU-4 list reproduces the reported mean
    assert scores["bleu"]["sentence"]["bleu4"] == pytest.approx(sum(scores["per_item"]["bleu4"]) / 3)
    # ... and so does every other headline metric's: each gets its interval on the base-vs-fine-tuned page.
    for name in ("bleu1", "bleu2", "bleu3"):
        assert scores["bleu"]["sentence"][name] == pytest.approx(sum(scores["per_item"][name]) / 3)
    for name in ("rouge-1", "rouge-2", "rouge-l"):
        assert scores["rouge"][name] == pytest.approx(sum(scores["per_item"][name]) / 3)


@pytest.mark.slow
def test_child_sigterm_cancels_cleanly(tmp_path: Path, tiny_model_dir: Path, mmcu_sample: Path) -> None:
    config = _config(tmp_path, tiny_model_dir, mmcu_sample)
    proc = _child(config)
    deadline = time.time() + 120
    while not _events(config.parent) and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    end = _events(config.parent)[-1]
    assert end["event"] == "end" and end["status"] == "cancelled"


@pytest.mark.parametrize(
    ("suite", "message"),
    [
        ({"bleu_rouge": {"rows_path": "/nonexistent/val.jsonl"}}, "does not exist"),
        ({"bleu_rouge": None, "mmcu": None}, "suite is empty"),
        ({"mmcu": {"data_dir": "/nonexistent", "mode": "likelihood"}, "bleu_rouge": None}, "neither an MMCU"),
        ({"mmcu": {"data_dir": "/x", "mode": "guess"}, "bleu_rouge": None}, "suite.mmcu.mode"),
    ],
)
def test_child_user_errors_exit_2(tmp_path: Path, suite: dict, message: str, monkeypatch) -> None:
    # In-process main() (the subprocess path is covered above): no signal handlers in the pytest process.
    from worker.evaluation import run

    monkeypatch.setattr(run.StopFlag, "install", lambda self: None)
    config = _config(tmp_path, tmp_path / "no-model", None, **suite)
    assert run.main(["--config", str(config)]) == 2
    error = json.loads((config.parent / "error.json").read_text(encoding="utf-8"))["error"]
    assert message in error


def test_child_bad_model_path_exit_2(tmp_path: Path, monkeypatch) -> None:
    from worker.evaluation import run

    monkeypatch.setattr(run.StopFlag, "install", lambda self: None)
    config = _config(tmp_path, tmp_path / "no-model", None)
    assert run.main(["--config", str(config)]) == 2
    assert not (config.parent / "scores.json").exists()
    assert "could not load model" in json.loads((config.parent / "error.json").read_text())["error"]
