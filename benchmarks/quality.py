"""Fine-tune quality per minute: the studio's defaults vs bare scripts, same data, same time budget.

    python benchmarks/quality.py --model DEMO_DIR [--budget-minutes 20] [--heldout 200] [--seed 0]
        [--arms base,studio,studio_full,bare_lora,bare_full] [--out benchmarks/results/quality.json]
        [--compare-with EARLIER.json ...]   # --arms "" only compares saved runs (the JSON is saved per arm)
        [--heldout-turn first|later|both]   # both: one training per arm scored on both, the later-turn
                                             # results in OUT_later.json (for quality_turns.py)

CPsyCoun (../shared/data/cpsycoun/dialogues.jsonl) is split BY DIALOGUE with a seeded shuffle: `--heldout`
dialogues are held out and scored on their FIRST turn (first user message -> first counsellor reply), every
other dialogue trains. `--heldout-turn later` scores a LATER reply instead (a seeded choice among each
held-out dialogue's third and later counsellor replies), its prompt the system prompt plus as many whole
recent exchanges as fit in max_seq_length minus --max-new-tokens tokens: what windows
(split_long_dialogues) train for and truncation never sees. Arms, each in its own process, each with the
same wall-clock training budget:

- studio_defaults: the real training child (python -m worker.training.sft) with the form's defaults
             (method auto, which is full for the demo model) and max_train_minutes = budget, nothing else set;
- studio:    the same child, method LoRA with its defaults (the form's default method before auto);
- studio_full: the same child, method full, the studio's defaults except the full-fine-tune learning
             rate of bare_full (the candidate default for small models, issue #12 point 6);
- bare_lora: a bare HF Trainer + PEFT script as an expert writes it (LoRA r16 all-linear, batch 4 x 2,
             384 tokens, lr 2e-4, cosine), padded batches;
- bare_full: a bare HF Trainer full fine-tune (batch 4 x 2, 384 tokens, lr 5e-5, cosine);
- base:      the untuned model.
The bare scripts get the same time limit through the same callback (worker/training/budget.TimeBudget),
so every arm's schedule ends when its time does. Scores: BLEU-4 (char, nltk method3) and ROUGE-L (jieba,
rouge-chinese) from the project's own scorer (worker/evaluation/text_metrics.py) on greedy answers
(--max-new-tokens, 128 by default); paired bootstrap 95 % intervals (worker/evaluation/bootstrap.py) of each
arm minus each studio arm. The raw JSON (per-item scores, predictions, machine load) is written beside this
script.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# benchmarks/datasets.py would pass for the `datasets` library that transformers imports.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(REPO))
DATA = REPO.parent / "shared" / "data" / "cpsycoun" / "dialogues.jsonl"
OUT = Path(__file__).resolve().parent / "results" / "quality.json"
# Studio arms: method and the hyperparameters set besides max_train_minutes (everything else: defaults).
# The full-fine-tune arms name split_long_dialogues, whose default changed twice: saved runs of an arm name
# stay comparable (quality.json's studio_full ran with windows, quality_lr.json's with cutting).
STUDIO = {
    # What a user who only clicks Start gets for the demo model: method "auto" resolves to full for it (the
    # child runs concrete methods), every hyperparameter its default, precision auto included.
    "studio_defaults": ("full", {}),
    "studio": ("lora", {}),
    "studio_full": ("full", {"learning_rate": 5e-5, "split_long_dialogues": True}),
    # Ablation: dialogues cut at max_seq_length (as the bare scripts and LLaMA-Factory do) instead of windows.
    "studio_full_truncate": ("full", {"learning_rate": 5e-5, "split_long_dialogues": False}),
    # Cutting at twice the learning rate (the default until later turns were measured: quality_turns.py).
    "studio_full_lr1e-4": ("full", {"learning_rate": 1e-4, "split_long_dialogues": False}),
    # The defaults since: windows, every counsellor reply trained once with the recent context that fits.
    "studio_full_windows": ("full", {"learning_rate": 1e-4, "split_long_dialogues": True}),
    # The defaults with each long dialogue's opening window trained three times: openings become ~36 % of
    # the examples instead of ~16 % (CPsyCoun at 384 tokens), a candidate when the first reply matters.
    "studio_opening3": ("full", {"opening_weight": 3}),
    # The defaults with the user turns trained too, as the bare scripts train every token: the same
    # compute per step buys more loss-bearing tokens (how clients write, the system prompt with openings).
    "studio_train_prompt": ("full", {"train_on_prompt": True}),
    # The defaults at twice the full-fine-tune learning rate: a 20-minute budget is 80-140 steps, about 1 %
    # of an epoch, where the model is far from converged and a larger step may buy more per minute.
    "studio_lr2e-4": ("full", {"learning_rate": 2e-4}),
    # The defaults with precision pinned to fp32: the partner of an arm whose `auto` chose fp32, since the
    # probe takes one more reading per job start and could choose bf16 (more steps) for the next arm.
    "studio_fp32": ("full", {"precision": "fp32"}),
    # The next step of the learning-rate sweep, pinned to fp32 to pair with the two above.
    "studio_lr4e-4_fp32": ("full", {"learning_rate": 4e-4, "precision": "fp32"}),
}
SEQ = 384  # max_seq_length of every arm (the studio's default, the bare scripts' "seq")
BARE = {
    "bare_lora": {"lora": True, "lr": 2e-4, "r": 16, "batch": 4, "accum": 2, "seq": SEQ},
    "bare_full": {"lora": False, "lr": 5e-5, "batch": 4, "accum": 2, "seq": SEQ},
}


def split(path: Path, heldout: int, seed: int) -> tuple[list[dict], list[dict]]:
    """Dialogues to train on, and the held-out ones (by dialogue, seeded)."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    random.Random(seed).shuffle(rows)
    return rows[heldout:], rows[:heldout]


def first_turns(heldout: list[dict]) -> list[tuple[list[dict], str]]:
    """(prompt messages, reference) of each held-out dialogue's first counsellor reply."""
    test = []
    for row in heldout:
        msgs = row["messages"]
        first_user = next(i for i, m in enumerate(msgs) if m["role"] == "user")
        test.append((msgs[: first_user + 1], msgs[first_user + 1]["content"]))
    return test


def later_turns(
    heldout: list[dict], tokenizer: Any, seed: int, context_tokens: int
) -> list[tuple[list[dict], str]]:
    """(prompt messages, reference) of one later counsellor reply per held-out dialogue (the third or a
    later one, seeded), the prompt cut to whole recent exchanges that fit in ``context_tokens``."""
    from worker.evaluation.generation import render_prompt

    rng = random.Random(seed)
    test = []
    for row in heldout:
        msgs = row["messages"]
        replies = [
            i
            for i, m in enumerate(msgs)
            if m["role"] == "assistant" and i > 0 and msgs[i - 1]["role"] == "user"
        ]
        if len(replies) < 3:
            continue
        at = rng.choice(replies[2:])
        system = [m for m in msgs[:1] if m["role"] == "system"]
        context = msgs[len(system) : at]
        # Drop the oldest exchange (a user turn and the reply after it) until the prompt fits; the last
        # user turn always stays.
        while len(context) > 1:
            prompt, _ = render_prompt(tokenizer, system + context)
            if len(tokenizer(prompt, add_special_tokens=False)["input_ids"]) <= context_tokens:
                break
            context = context[2:] if len(context) > 2 else context[-1:]
        test.append((system + context, msgs[at]["content"]))
    return test


def _env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(REPO)}


def train_studio(arm: str, model: str, train: Path, budget: float, work: Path) -> tuple[Path, dict]:
    run_dir = work / arm
    run_dir.mkdir(parents=True, exist_ok=True)
    method, hp = STUDIO[arm]
    config = {
        "job_id": "quality", "run_dir": str(run_dir), "method": method,
        "base_model": {"path": model}, "dataset": {"train_path": str(train)},
        "hyperparameters": {**hp, "max_train_minutes": budget},
    }  # fmt: skip
    (run_dir / "config.json").write_text(json.dumps(config), encoding="utf-8")
    cmd = [sys.executable, "-m", "worker.training.sft", "--config", str(run_dir / "config.json")]
    subprocess.run(cmd, cwd=REPO, env=_env(), check=True, capture_output=True)
    events = (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    start, end = json.loads(events[0]), json.loads(events[-1])
    # What `precision: auto` chose decides the steps a budget buys (2x on a CPU with fast bf16): recorded,
    # since one processor name can choose either.
    end["precision"], end["precision_reason"] = start.get("precision"), start.get("precision_reason")
    if end.get("status") != "succeeded":  # e.g. paused by the collapse watch: score what it saved
        print(f"{arm} run ended {end.get('status')}: {end.get('reason')}", flush=True)
    return run_dir / (end.get("output_path") or "final"), end


def bare_train(arm: str, model: str, train: Path, budget: float, out: Path) -> None:
    """The bare script (runs in a child process: `quality.py --bare ARM ...`)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        DataCollatorForSeq2Seq,
        Trainer,
        TrainingArguments,
    )

    from worker.training.budget import BUDGET_PLACEHOLDER_STEPS, TimeBudget

    cfg = BARE[arm]
    tok = AutoTokenizer.from_pretrained(model)
    tok.pad_token = tok.pad_token or tok.eos_token
    features = []
    for line in train.read_text(encoding="utf-8").splitlines():
        ids = tok.apply_chat_template(json.loads(line)["messages"], tokenize=True, return_dict=False)
        ids = list(ids["input_ids"] if isinstance(ids, dict) else ids)[: cfg["seq"]]
        features.append({"input_ids": ids, "attention_mask": [1] * len(ids), "labels": list(ids)})
    net = AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32)
    if cfg["lora"]:
        lora = LoraConfig(r=cfg["r"], lora_alpha=2 * cfg["r"], lora_dropout=0.05, target_modules="all-linear")
        net = get_peft_model(net, lora)
    args = TrainingArguments(
        output_dir=str(out / "tmp"), max_steps=BUDGET_PLACEHOLDER_STEPS, learning_rate=cfg["lr"],
        per_device_train_batch_size=cfg["batch"], gradient_accumulation_steps=cfg["accum"],
        lr_scheduler_type="cosine", warmup_steps=5, logging_steps=10, save_strategy="no", report_to=[],
        seed=42, use_cpu=not torch.cuda.is_available(), remove_unused_columns=False,
    )  # fmt: skip
    budget_cb = TimeBudget(budget, cap_steps=None, has_eval=False, write_event=lambda e: None)
    collator = DataCollatorForSeq2Seq(tok, padding=True, label_pad_token_id=-100)
    trainer = Trainer(
        model=net, args=args, train_dataset=features, data_collator=collator, callbacks=[budget_cb]
    )
    trainer.train()
    trainer.save_model(str(out))
    tok.save_pretrained(str(out))
    (out / "steps.json").write_text(json.dumps({"steps": trainer.state.global_step}), encoding="utf-8")


def generate(model_dir: str, base: str, test: list[tuple[list[dict], str]], max_new_tokens: int) -> list[str]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from worker.evaluation.generation import generate_texts, render_prompt, resolve_generation

    path = Path(model_dir)
    if (path / "adapter_config.json").is_file():
        from peft import PeftModel

        net = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32), path)
        net = net.merge_and_unload()
    else:
        net = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(base)
    prompts = [render_prompt(tok, msgs)[0] for msgs, _ in test]
    settings = resolve_generation("greedy", {"max_new_tokens": max_new_tokens})
    return [t[0] for t in generate_texts(net, tok, prompts, settings, batch_size=8)]


def score(predictions: list[str], references: list[str]) -> dict[str, Any]:
    from worker.evaluation.text_metrics import bleu_scores, rouge_scores

    bleu = bleu_scores(predictions, references, tokenization="char", smoothing="method3")
    rouge = rouge_scores(predictions, references)
    return {
        "bleu4": bleu["sentence"]["bleu4"], "rouge_l": rouge["rouge-l"],
        "per_item": {"bleu4": bleu["per_item"]["bleu4"], "rouge_l": rouge["per_item"]["rouge-l"]},
    }  # fmt: skip


def _cpu() -> dict[str, Any]:
    """What decides an arm's steps per budget: the processor (virtual ones share a name, so its bf16
    instructions too: precision auto picks bf16 where they make it faster) and its core count."""
    flags: set[str] = set()
    name = ""
    for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
        if line.startswith("model name") and not name:
            name = line.split(":", 1)[1].strip()
        elif line.startswith("flags") and not flags:
            flags = set(line.split(":", 1)[1].split())
    return {"name": name, "cores": os.cpu_count(), "bf16": sorted(flags & {"avx512_bf16", "amx_bf16"})}


def run_differences(earlier: dict[str, Any], result: dict[str, Any]) -> list[str]:
    """What makes two runs' items or training differ, besides the held-out turn: the held-out dialogues
    (data, seed, count), the answers' length, the training budget and the processor."""
    same = ("data", "seed", "heldout", "max_new_tokens", "budget_minutes")
    mismatch = [k for k in same if earlier["args"].get(k) != result["args"].get(k)]
    if earlier.get("cpu") != result.get("cpu"):
        mismatch.append(f"processor ({earlier.get('cpu', 'not recorded')} vs {result.get('cpu')})")
    return mismatch


def _earlier_arms(path: Path, result: dict[str, Any]) -> dict[str, Any]:
    """Arms of an earlier run, for paired comparisons: only if it scored the very same held-out items
    after the same training budget on the same kind of processor."""
    earlier = json.loads(path.read_text(encoding="utf-8"))
    mismatch = run_differences(earlier, result)
    # Runs from before --heldout-turn existed scored first turns.
    if earlier["args"].get("heldout_turn", "first") != result["args"].get("heldout_turn", "first"):
        mismatch.append("heldout_turn")
    if mismatch:
        raise SystemExit(f"{path}: not comparable, it differs in {', '.join(mismatch)}")
    return {arm: {**{k: v for k, v in data.items() if not k.startswith("minus_")}, "from": str(path)}
            for arm, data in earlier["arms"].items()}  # fmt: skip


def _save(result: dict[str, Any], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")


def _compare_and_save(result: dict[str, Any], compare_with: list[Path], out: Path) -> None:
    """Paired bootstrap of every arm against every studio arm (earlier runs' arms included), then save."""
    from worker.evaluation.bootstrap import paired_bootstrap_mean_diff

    for earlier in compare_with:
        for arm, data in _earlier_arms(earlier, result).items():
            result["arms"].setdefault(arm, data)
    studio_arms = [a for a in STUDIO if a in result["arms"]]
    for i, name in enumerate(studio_arms):
        studio = result["arms"][name]
        for arm, data in result["arms"].items():
            if arm in studio_arms[: i + 1]:  # itself, or a studio arm already compared the other way
                continue
            diffs = data.setdefault(f"minus_{name}", {})
            for metric in ("bleu4", "rouge_l"):
                # paired_bootstrap_mean_diff(a, b) is the mean of b - a: here arm minus studio arm.
                ci = paired_bootstrap_mean_diff(studio["per_item"][metric], data["per_item"][metric])
                diffs[metric] = ci.to_dict()
                print(f"{arm:11s} - {name:11s} {metric}: {ci.diff:+.2f} [{ci.low:+.2f}, {ci.high:+.2f}]")
    result["load_after"] = os.getloadavg()
    _save(result, out)


def _heldout_items(
    turn: str, heldout: list[dict], model: str, seed: int, max_new_tokens: int
) -> list[tuple[list[dict], str]]:
    if turn == "first":
        return first_turns(heldout)
    from transformers import AutoTokenizer

    return later_turns(heldout, AutoTokenizer.from_pretrained(model), seed, SEQ - max_new_tokens)


def _earlier_turn(path: Path) -> str:
    # Runs from before --heldout-turn existed scored first turns.
    return json.loads(path.read_text(encoding="utf-8"))["args"].get("heldout_turn", "first")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="the demo model folder (python -m worker.demo_model)")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--budget-minutes", type=float, default=20.0)
    parser.add_argument("--heldout", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--arms", default="base,studio,studio_full,bare_lora,bare_full")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--heldout-turn", choices=("first", "later", "both"), default="first")
    parser.add_argument(
        "--compare-with", type=Path, action="append", default=[],
        help="an earlier run's JSON (same data, seed, held-out count): its arms join the paired comparisons",
    )  # fmt: skip
    parser.add_argument("--bare", help=argparse.SUPPRESS)
    parser.add_argument("--train-file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--bare-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare:
        bare_train(args.bare, args.model, args.train_file, args.budget_minutes, args.bare_out)
        return 0

    train_rows, heldout = split(args.data, args.heldout, args.seed)
    # "both" trains each arm once and scores it on first and on later turns: two results, each saved and
    # compared exactly as a single-turn run's would be (its args name its own turn and file).
    turns = ("first", "later") if args.heldout_turn == "both" else (args.heldout_turn,)
    outs = {"first": args.out, "later": args.out}
    if args.heldout_turn == "both":
        outs["later"] = args.out.with_name(f"{args.out.stem}_later{args.out.suffix}")
    tests = {t: _heldout_items(t, heldout, args.model, args.seed, args.max_new_tokens) for t in turns}
    recorded = {k: str(v) for k, v in vars(args).items() if v is not None and k not in ("bare",)}
    results: dict[str, dict[str, Any]] = {
        turn: {
            "args": {**recorded, "heldout_turn": turn, "out": str(outs[turn])},
            "load_before": os.getloadavg(),
            "cpu": _cpu(),
            "train_dialogues": len(train_rows),
            f"heldout_{turn}_turns": len(tests[turn]),
            "arms": {},
        }  # fmt: skip
        for turn in turns
    }
    with tempfile.TemporaryDirectory(prefix="ftstudio-quality-") as tmp:
        work = Path(tmp)
        train = work / "train.jsonl"
        train.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in train_rows) + "\n", "utf-8")
        arms = [a for a in args.arms.split(",") if a]
        for arm in arms:
            started = time.perf_counter()
            extra: dict[str, Any] = {}
            if arm == "base":
                folder = args.model
            elif arm in STUDIO:
                path, end = train_studio(arm, args.model, train, args.budget_minutes, work)
                folder, extra["end_event"] = str(path), end
            else:
                out = work / arm
                cmd = [sys.executable, __file__, "--model", args.model, "--bare", arm,
                       "--train-file", str(train), "--bare-out", str(out),
                       "--budget-minutes", str(args.budget_minutes)]  # fmt: skip
                subprocess.run(cmd, cwd=REPO, env=_env(), check=True, capture_output=True)
                folder = str(out)
                extra["steps"] = json.loads((out / "steps.json").read_text(encoding="utf-8"))["steps"]
            trained = time.perf_counter() - started
            for turn in turns:
                predictions = generate(folder, args.model, tests[turn], args.max_new_tokens)
                scores = score(predictions, [ref for _, ref in tests[turn]])
                results[turn]["arms"][arm] = {
                    **scores,
                    **extra,
                    "train_wall_seconds": trained,
                    "predictions": predictions,
                }
                print(f"{arm:10s} {turn:5s} BLEU-4 {scores['bleu4']:6.2f}  ROUGE-L {scores['rouge_l']:6.2f}  "
                      f"(train+load {trained:.0f} s)", flush=True)  # fmt: skip
                # After every arm: a run stopped early keeps what it measured.
                _save(results[turn], outs[turn])
    for turn in turns:
        # With both turns, each earlier run joins the result of its own turn.
        earlier = [p for p in args.compare_with if len(turns) == 1 or _earlier_turn(p) == turn]
        _compare_and_save(results[turn], earlier, outs[turn])
        print(f"raw results ({turn} turns): {outs[turn]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
