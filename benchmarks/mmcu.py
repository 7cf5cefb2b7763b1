"""MMCU likelihood mode vs MMCU's reference protocol, on the same questions, model and machine.

    .venv/bin/python benchmarks/mmcu.py [--model DIR] [--data DIR] [--limit 40] [--json]

Prints questions per second for each mode, their ratio (goal: likelihood >= 10x the reference protocol), how
often the two modes give the same answer, and each mode's accuracy. Both modes run in this process, after one
warm-up batch each, on the same prompts, at the SAME batch size (``--batch-size``), so the ratio measures the
method (one scoring pass vs generating an answer), not batching. ``--reference-batch-size 1`` reproduces
MMCU's own one-question-at-a-time scripts. Raw results: benchmarks/results/mmcu.json.
Without ``--model`` the demo model (SmolLM2-135M-Instruct) is prepared through worker.demo_model.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Running a script puts its folder first on sys.path, where benchmarks/datasets.py would pass for the
# `datasets` library that transformers imports.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(REPO))
DEFAULT_DATA = REPO / ".." / "shared" / "data" / "mmcu-layout-sample"


def _timed(fn, *args, **kwargs) -> tuple[list[dict], float]:  # noqa: ANN001, ANN002, ANN003
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default=None, help="model folder (default: the demo model)")
    parser.add_argument("--models-dir", type=Path, default=Path.home() / ".cache" / "ftstudio" / "models")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--limit", type=int, default=40, help="questions (spread over all files); 0 = all")
    parser.add_argument("--shots", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=8, help="questions per pass, both modes")
    parser.add_argument("--reference-batch-size", type=int, default=None, help="default: --batch-size")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "mmcu.json")
    parser.add_argument("--max-new-tokens", type=int, default=32, help="reference protocol generation length")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.reference_batch_size is None:
        args.reference_batch_size = args.batch_size

    import torch

    from worker.evaluation.loading import load_for_eval
    from worker.evaluation.mmcu_data import read_questions
    from worker.evaluation.mmcu_harness import answer_likelihood, answer_reference
    from worker.evaluation.mmcu_scoring import score_predictions

    if args.threads:
        torch.set_num_threads(args.threads)
    if not (args.data / "test").is_dir():
        print(f"no MMCU-layout folder at {args.data}", file=sys.stderr)
        return 2
    model_dir = args.model
    if model_dir is None:
        from worker.demo_model import ensure_demo_model

        model_dir = str(ensure_demo_model(args.models_dir))
    model, tok = load_for_eval(model_dir)
    questions, dev = read_questions(args.data)
    if args.limit and args.limit < len(questions):
        step = len(questions) / args.limit  # spread over every file instead of the first ones
        questions = [questions[int(i * step)] for i in range(args.limit)]
    warm = questions[: min(2, len(questions))]
    answer_likelihood(model, tok, warm, dev, shots=args.shots, batch_size=args.batch_size)
    answer_reference(
        model, tok, warm, dev, shots=args.shots, batch_size=1, max_new_tokens=args.max_new_tokens
    )

    lik, t_lik = _timed(
        answer_likelihood, model, tok, questions, dev, shots=args.shots, batch_size=args.batch_size
    )
    ref, t_ref = _timed(
        answer_reference,
        model,
        tok,
        questions,
        dev,
        shots=args.shots,
        batch_size=args.reference_batch_size,
        max_new_tokens=args.max_new_tokens,
    )
    n = len(questions)

    def acc(answers: list[dict]) -> float:
        return score_predictions(
            questions, {(a["file"], a["sheet"], a["row"]): a["answer"] for a in answers}
        )["overall_micro"]

    result = {
        "model": model_dir,
        "device": str(next(model.parameters()).device),
        "torch_threads": torch.get_num_threads(),
        "questions": n,
        "shots": args.shots,
        "likelihood": {"seconds": t_lik, "questions_per_second": n / t_lik, "batch_size": args.batch_size},
        "reference": {
            "seconds": t_ref,
            "questions_per_second": n / t_ref,
            "batch_size": args.reference_batch_size,
            "max_new_tokens": args.max_new_tokens,
            "no_answer": sum(not a["answer"] for a in ref),
        },
        "speedup": t_ref / t_lik,
        "agreement": sum(a["answer"] == b["answer"] for a, b in zip(lik, ref, strict=True)) / n,
        "accuracy": {"likelihood": acc(lik), "reference": acc(ref)},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return 0
    print(f"model {model_dir} on {result['device']}, {n} questions, {args.shots}-shot")
    print(f"likelihood  {result['likelihood']['questions_per_second']:8.2f} q/s  (batch {args.batch_size})")
    print(
        f"reference   {result['reference']['questions_per_second']:8.2f} q/s  "
        f"(batch {args.reference_batch_size}, max_new_tokens {args.max_new_tokens}, "
        f"{result['reference']['no_answer']} replies without a letter)"
    )
    print(f"speed-up    {result['speedup']:8.1f}x   (goal >= 10x)")
    print(f"agreement   {result['agreement']:8.1%}   of questions get the same answer from both modes")
    print(
        f"accuracy    likelihood {result['accuracy']['likelihood']:.3f}, "
        f"reference {result['accuracy']['reference']:.3f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
