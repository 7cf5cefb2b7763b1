"""The baseline of benchmarks/overhead.py: the same LoRA training as a bare Hugging Face Trainer + PEFT
script, the way a user would write it by hand. Prints one JSON line with its measurements.

    python benchmarks/bare_lora_trainer.py --model DIR --data rows.jsonl --steps 20 --batch 2 --seq-len 512
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

# benchmarks/datasets.py would pass for the `datasets` library that transformers imports.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import torch  # noqa: E402
from peft import LoraConfig, get_peft_model  # noqa: E402
from transformers import (  # noqa: E402
    AutoModelForCausalLM,
    AutoTokenizer,
    DataCollatorForSeq2Seq,
    Trainer,
    TrainingArguments,
)


class CountingCollator(DataCollatorForSeq2Seq):
    """Counts real (non-pad) tokens, the same measure the studio's collator reports."""

    tokens_seen = 0

    def __call__(self, features, return_tensors=None):  # type: ignore[no-untyped-def]
        batch = super().__call__(features, return_tensors)
        CountingCollator.tokens_seen += int(batch["attention_mask"].sum())
        return batch


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--seq-len", type=int, default=512)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    started = time.perf_counter()

    tokenizer = AutoTokenizer.from_pretrained(args.model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    with open(args.data, encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    features = []
    for row in rows:
        ids = tokenizer.apply_chat_template(row["messages"], tokenize=True, return_dict=False)
        ids = list(ids["input_ids"] if isinstance(ids, dict) else ids)[: args.seq_len]
        features.append({"input_ids": ids, "attention_mask": [1] * len(ids), "labels": list(ids)})

    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32)
    # The studio's defaults: r=8, alpha=16, dropout 0.05 on the attention projections.
    model = get_peft_model(
        model,
        LoraConfig(
            r=8,
            lora_alpha=16,
            lora_dropout=0.05,
            task_type="CAUSAL_LM",
            target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
        ),
    )
    with tempfile.TemporaryDirectory() as out:
        training_args = TrainingArguments(
            output_dir=out,
            max_steps=args.steps,
            per_device_train_batch_size=args.batch,
            learning_rate=2e-4,
            lr_scheduler_type="cosine",
            logging_steps=1,
            save_strategy="no",
            report_to=[],
            seed=args.seed,
            use_cpu=True,
            dataloader_num_workers=0,
            remove_unused_columns=False,
        )
        trainer = Trainer(
            model=model,
            args=training_args,
            train_dataset=features,
            data_collator=CountingCollator(tokenizer, padding=True, label_pad_token_id=-100),
        )
        result = trainer.train()
    runtime = result.metrics["train_runtime"]
    print(
        json.dumps(
            {
                "steps": args.steps,
                "train_runtime": runtime,
                "steps_per_second": args.steps / runtime,
                "tokens_per_second": CountingCollator.tokens_seen / runtime,
                "wall_seconds": time.perf_counter() - started,
            }
        )
    )


if __name__ == "__main__":
    main()
