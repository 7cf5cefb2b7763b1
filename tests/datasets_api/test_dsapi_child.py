"""The analysis child's contract without a worker: a user error is error.json + exit 2, a stop request ends
the run early as "cancelled" (exit 0), and a bad preview row is named."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from worker.datasets.analyse import AnalysisError, Cancelled, analyse, main
from worker.training.events import EventWriter, read_events


def _rows(n: int) -> list[dict]:
    def turns(i: int) -> list[dict]:
        return [{"role": "user", "content": f"问题{i}" * 5}, {"role": "assistant", "content": f"回答{i}" * 7}]

    return [{"id": f"r{i}", "messages": turns(i)} for i in range(n)]


def _config(tmp_path: Path, rows: list[dict], **extra: object) -> dict:
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    dataset = {"train_path": str(path), "val_path": None}
    return {"dataset": dataset, "base_model": {"path": str(tmp_path / "none")}, "max_seq_length": 64, **extra}


def test_bad_config_is_error_json_and_exit_2(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"dataset": {}}), encoding="utf-8")
    assert main(["--config", str(run / "config.json")]) == 2
    assert "base_model" in json.loads((run / "error.json").read_text(encoding="utf-8"))["error"]


def test_missing_model_is_a_user_error_after_the_cheap_phases(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps(_config(tmp_path, _rows(6))), encoding="utf-8")
    assert main(["--config", str(run / "config.json")]) == 2
    assert "tokenizer" in json.loads((run / "error.json").read_text(encoding="utf-8"))["error"]
    events = read_events(run)
    assert events[0]["event"] == "start" and events[0]["total_steps"] == 6 + 6 + 6 + 0 + 3


def test_stop_request_cancels_and_unknown_preview_rows_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import worker.datasets.analyse as child

    writer = EventWriter(tmp_path)
    with pytest.raises(Cancelled):
        analyse(_config(tmp_path, _rows(4)), writer, {"requested": True})
    with pytest.raises(AnalysisError, match="r99"):
        analyse(_config(tmp_path, _rows(4), preview_row_ids=["r1", "r99"]), writer, {"requested": False})
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps(_config(tmp_path, _rows(3))), encoding="utf-8")

    def stopped(config: dict, w: EventWriter, stop: dict) -> dict:
        stop["requested"] = True  # what main()'s SIGTERM handler does
        return analyse(config, w, stop)

    previous = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(child, "analyse", stopped)
    try:
        assert child.main(["--config", str(run / "config.json")]) == 0
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert read_events(run)[-1] == {"event": "end", "status": "cancelled"}
    assert not (run / "analysis.json").exists()
