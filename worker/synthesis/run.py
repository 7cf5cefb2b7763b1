"""The generation child: `python -m worker.synthesis.run --config RUN_DIR/config.json`.

Asks an OpenAI-compatible endpoint for conversations, one request per seed (topics, or rows of a dataset
version, taken in turn), parses each answer, and writes in RUN_DIR (docs/CONTRACTS.md's child contract):
- generated.jsonl: parsed conversations, appended as they arrive (kept on cancel; a resumed job starts
  from its parent's file);
- unparsed.jsonl: answers the parser could not use, with the reason;
- progress.json: rows, requests, tokens, cost, retries (replaced atomically, read by the web);
- metrics.jsonl: start / progress / warning / end events for the supervisor.
The API key comes in the environment (FTSTUDIO_SYNTH_API_KEY), never in config.json or the command line.
Knows nothing of the web or the database.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

from app.synthesis.caller import Caller, EndpointError
from app.synthesis.parsing import ParseError, parse_conversations
from app.synthesis.prompts import render_messages, seed_text

KEY_ENV = "FTSTUDIO_SYNTH_API_KEY"
MAX_FAILURES_IN_A_ROW = 3
# Stop early when the first answers are all unusable: the template or the model is wrong, and every
# further request would cost money for nothing.
GIVE_UP_AFTER_UNPARSED = 5
EXAMPLE_CHARS = 2000
WARNED_UNPARSED = 5  # the first few unparsed answers become job events; all are in unparsed.jsonl

stop_requested = False


def _on_sigterm(signum: int, frame: Any) -> None:
    global stop_requested
    stop_requested = True


class Run:
    def __init__(self, config: dict[str, Any], api_key: str) -> None:
        self.config = config
        self.dir = Path(config["run_dir"])
        self.target = int(config["target_rows"])
        self.max_requests = int(config.get("max_requests") or max(2 * self.target, self.target + 10))
        self.seeds = self._load_seeds()
        self.progress = {"rows": 0, "target": self.target, "requests": 0, "unparsed": 0, "failed": 0,
                         "prompt_tokens": 0, "completion_tokens": 0, "cost": None, "retries": 0,
                         "json_mode": None, "status": "running"}  # fmt: skip
        self.price = config.get("price_per_1k_tokens")
        self.caller = Caller(
            base_url=config["endpoint"]["base_url"],
            api_key=api_key,
            model=config["model"],
            temperature=float(config.get("temperature", 0.8)),
            max_tokens=int(config.get("max_tokens") or 1024),
            json_mode=config.get("json_mode", "auto"),
            max_retries=int(config.get("max_retries", 5)),
            backoff_base=float(config.get("backoff_base", 1.0)),
            should_stop=lambda: stop_requested,
        )

    # --- files ---------------------------------------------------------------------------------
    def _event(self, **event: Any) -> None:
        with (self.dir / "metrics.jsonl").open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(event, ensure_ascii=False) + "\n")

    def _append(self, name: str, record: dict[str, Any]) -> None:
        with (self.dir / name).open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")

    def _save_progress(self) -> None:
        tokens = self.progress["prompt_tokens"] + self.progress["completion_tokens"]
        if self.price is not None:
            self.progress["cost"] = round(tokens / 1000 * float(self.price), 6)
        temp = self.dir / "progress.json.tmp"
        temp.write_text(json.dumps(self.progress, ensure_ascii=False), encoding="utf-8")
        temp.replace(self.dir / "progress.json")

    def _load_seeds(self) -> list[dict[str, Any]]:
        seeds = self.config["seeds"]
        if seeds["kind"] == "topics":
            return [{"topic": t, "seed": "", "row": None} for t in seeds["topics"]]
        rows = [json.loads(line) for line in Path(seeds["rows_path"]).read_text("utf-8").splitlines() if line]
        wanted = set(seeds.get("row_ids") or [])
        rows = [r for r in rows if not wanted or str(r["id"]) in wanted][: int(seeds.get("limit") or 10**9)]
        first_user = lambda r: next((m["content"] for m in r["messages"] if m["role"] == "user"), "")  # noqa: E731
        return [{"topic": first_user(r)[:200], "seed": seed_text(r), "row": r} for r in rows]

    def _resume(self) -> None:
        """Start from the parent job's rows and counters (a resumed run keeps what its parent had)."""
        parent = self.config.get("resume_from")
        if not parent or (self.dir / "generated.jsonl").exists():
            return
        for name in ("generated.jsonl", "unparsed.jsonl"):
            if (Path(parent) / name).is_file():
                shutil.copyfile(Path(parent) / name, self.dir / name)
        if (Path(parent) / "progress.json").is_file():
            saved = json.loads((Path(parent) / "progress.json").read_text("utf-8"))
            for key in ("rows", "requests", "unparsed", "failed", "prompt_tokens", "completion_tokens",
                        "retries"):  # fmt: skip
                self.progress[key] = int(saved.get(key) or 0)

    # --- the loop ------------------------------------------------------------------------------
    def _values(self, index: int, seed: dict[str, Any]) -> dict[str, Any]:
        return {"topic": seed["topic"], "n": index + 1, "turns": int(self.config.get("turns") or 1),
                "seed": seed["seed"]}  # fmt: skip

    def _wait_for_rate_limit(self, last_start: float) -> None:
        per_minute = self.config.get("rate_limit_per_minute")
        if not per_minute:
            return
        until = last_start + 60.0 / float(per_minute)
        while not stop_requested and time.monotonic() < until:
            time.sleep(min(0.2, max(0.0, until - time.monotonic())))

    def _keep(self, index: int, seed: dict[str, Any], conversations: list[list[dict[str, str]]]) -> None:
        for conversation in conversations:
            if self.progress["rows"] >= self.target:
                return
            messages = conversation
            if self.config["seeds"].get("mode") == "continue" and seed["row"] is not None:
                base = [m for m in seed["row"]["messages"] if m["role"] != "system"]
                messages = base + [m for m in conversation if m["role"] != "system"]
            self.progress["rows"] += 1
            self._append("generated.jsonl", {"id": f"synth-{self.progress['rows']}", "messages": messages,
                                             "seed": seed["topic"], "request": index})  # fmt: skip

    def _one(self, index: int) -> None:
        seed = self.seeds[index % len(self.seeds)]
        messages = render_messages(self.config["template"], self._values(index, seed))
        try:
            result = self.caller.chat(messages)
        except EndpointError as exc:
            if exc.fatal:
                raise
            self.progress["failed"] += 1
            self._event(event="warning", message=str(exc))
            return
        finally:
            self.progress["requests"] += 1
            self.progress["retries"] = self.caller.retries_total + self._retries_before
        self.progress["prompt_tokens"] += result.prompt_tokens
        self.progress["completion_tokens"] += result.completion_tokens
        self.progress["json_mode"] = result.json_mode
        try:
            self._keep(index, seed, parse_conversations(result.text))
        except ParseError as exc:
            self.progress["unparsed"] += 1
            self._append("unparsed.jsonl", {"request": index, "seed": seed["topic"], "reason": str(exc),
                                            "text": result.text[:EXAMPLE_CHARS]})  # fmt: skip
            if self.progress["unparsed"] <= WARNED_UNPARSED:
                self._event(event="warning", message=f"unparsed answer ({exc}): {result.text[:200]}")

    def run(self) -> str:
        self._resume()
        self._retries_before = self.progress["retries"]
        self._event(event="start", total_steps=self.target, num_seeds=len(self.seeds))
        failures_before, in_a_row, last_start = self.progress["failed"], 0, 0.0
        while self.progress["rows"] < self.target and self.progress["requests"] < self.max_requests:
            if stop_requested:
                break
            self._wait_for_rate_limit(last_start)
            if stop_requested:
                break
            last_start = time.monotonic()
            self._one(self.progress["requests"])
            in_a_row = in_a_row + 1 if self.progress["failed"] > failures_before else 0
            failures_before = self.progress["failed"]
            self._save_progress()
            self._event(event="progress", step=self.progress["rows"], total_steps=self.target)
            if self.progress["rows"] == 0 and self.progress["unparsed"] >= GIVE_UP_AFTER_UNPARSED:
                break
            if in_a_row >= MAX_FAILURES_IN_A_ROW:
                raise EndpointError(f"{in_a_row} requests in a row failed; the last error is in the events.",
                                    fatal=True)  # fmt: skip
        status = "cancelled" if stop_requested else "succeeded"
        if status == "succeeded" and self.progress["rows"] == 0:
            raise EndpointError(
                f"None of the {self.progress['requests']} answers could be parsed into a conversation; "
                "see unparsed.jsonl for examples and adjust the output format of the template.",
                fatal=True,
            )
        if status == "succeeded" and self.progress["rows"] < self.target:
            self._event(event="warning", message=f"stopped after {self.progress['requests']} requests with "
                        f"{self.progress['rows']} of {self.target} rows")  # fmt: skip
        self.progress["status"] = status
        self._save_progress()
        self._event(event="end", status=status, step=self.progress["rows"], **_summary(self.progress))
        return status


def _summary(progress: dict[str, Any]) -> dict[str, Any]:
    keys = ("rows", "requests", "unparsed", "failed", "prompt_tokens", "completion_tokens", "cost", "retries")
    return {f"num_{k}" if k in ("rows", "requests", "unparsed", "failed") else k: progress[k] for k in keys}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", required=True, type=Path)
    args = parser.parse_args(argv)
    config = json.loads(args.config.read_text(encoding="utf-8"))
    # Read once and removed: nothing this process starts inherits the key.
    api_key = os.environ.pop(KEY_ENV, "")
    signal.signal(signal.SIGTERM, _on_sigterm)
    run = Run(config, api_key)
    try:
        run.run()
    except EndpointError as exc:
        run.progress["status"] = "failed"
        run._save_progress()
        (run.dir / "error.json").write_text(json.dumps({"error": str(exc)}, ensure_ascii=False), "utf-8")
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
