"""Tiny random-init causal LMs with a locally trained tokenizer, for tests and offline demos.

The model hubs are unreachable here, so tests build their own model: a byte-level BPE tokenizer trained in
well under a second on a small built-in Chinese + English corpus, and a random-init Llama / Qwen2 / GPT-2
model saved as safetensors with config.json. Everything is deterministic for a given seed.

CLI: ``python -m worker.training.tiny_model OUT_DIR [--arch qwen2] [--no-chat-template]``
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

from worker.training.templates import CHATML as CHATML_TEMPLATE

IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
PAD = "<|pad|>"
ENDOFTEXT = "<|endoftext|>"
SPECIAL_TOKENS = (ENDOFTEXT, IM_START, IM_END, PAD)

ARCHS = ("llama", "qwen2", "gpt2")

_EN_SUBJECTS = [
    "The counsellor",
    "My friend",
    "The student",
    "A patient",
    "The teacher",
    "Our team",
    "The model",
    "Every user",
    "The doctor",
    "My sister",
]
_EN_PREDICATES = [
    "listens carefully to the worries of others.",
    "feels anxious before an important exam.",
    "writes a short note about the weather today.",
    "asks how to sleep better at night.",
    "learns to fine-tune a small language model.",
    "takes a deep breath and counts to ten.",
    "reads a book about stress and recovery.",
    "explains the answer step by step.",
    "wants to talk about family and work.",
    "says thank you for the helpful advice.",
]
_ZH_SUBJECTS = [
    "咨询师",
    "我的朋友",
    "这位学生",
    "来访者",
    "老师",
    "我们团队",
    "这个模型",
    "每位用户",
    "医生",
    "我妹妹",
]
_ZH_PREDICATES = [
    "认真倾听别人的烦恼。",
    "在重要考试之前感到焦虑。",
    "写下今天天气的简短记录。",
    "询问晚上怎样才能睡得更好。",
    "学习如何微调一个小型语言模型。",
    "深呼吸然后慢慢数到十。",
    "读了一本关于压力与恢复的书。",
    "一步一步地解释答案。",
    "想谈谈家庭和工作的事情。",
    "感谢你提供的有用建议。",
]
_DIALOGUE_LINES = [
    "你好，最近我总是睡不着，心里很烦。",
    "听起来你最近承受了不少压力，能具体说说发生了什么吗？",
    "Hello, I have been feeling stressed about my new job.",
    "That sounds hard. What part of the new job worries you the most?",
    "谢谢你，我觉得好多了。",
    "不客气，如果还有需要，随时可以再来聊聊。",
    "What is the capital of France? The capital of France is Paris.",
    "一加一等于几？一加一等于二。",
    "Numbers: 0 1 2 3 4 5 6 7 8 9 10 100 2024 3.14",
    "Punctuation , . ! ? ; : ' \" ( ) [ ] { } - _ = + * / \\ # @ % &",
]


def builtin_corpus() -> list[str]:
    """A few hundred lines of Chinese and English text (subject x predicate combinations + dialogue lines)."""
    lines = [f"{s} {p}" for s, p in itertools.product(_EN_SUBJECTS, _EN_PREDICATES)]
    lines += [f"{s}{p}" for s, p in itertools.product(_ZH_SUBJECTS, _ZH_PREDICATES)]
    lines += _DIALOGUE_LINES * 5
    return lines


def train_tokenizer(
    vocab_size: int = 2000, *, with_chat_template: bool = True, corpus: list[str] | None = None
):
    """Train a byte-level BPE tokenizer and wrap it as a transformers fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # every byte is encodable: no unknown tokens
        show_progress=False,
    )
    tok.train_from_iterator(corpus or builtin_corpus(), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=ENDOFTEXT,
        eos_token=IM_END if with_chat_template else ENDOFTEXT,
        pad_token=PAD,
        unk_token=None,
        model_max_length=2048,
    )
    if with_chat_template:
        fast.chat_template = CHATML_TEMPLATE
    return fast


def _model_config(arch: str, vocab_size: int, hidden_size: int, num_layers: int, tokenizer):
    from transformers import GPT2Config, LlamaConfig, Qwen2Config

    ids = {
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    heads = max(1, hidden_size // 16)
    if arch == "llama":
        return LlamaConfig(
            vocab_size=vocab_size,
            hidden_size=hidden_size,
            intermediate_size=hidden_size * 2,
            num_hidden_layers=num_layers,
            num_attention_heads=heads,
            num_key_value_heads=max(1, heads // 2),
            max_position_embeddings=2048,
            tie_word_embeddings=False,
            **ids,
        )
    if arch == "qwen2":
        return Qwen2Config(
            vocab_size=vocab_size,
            hidden_size=hidden_size,
            intermediate_size=hidden_size * 2,
            num_hidden_layers=num_layers,
            num_attention_heads=heads,
            num_key_value_heads=max(1, heads // 2),
            max_position_embeddings=2048,
            tie_word_embeddings=True,
            **ids,
        )
    if arch == "gpt2":
        return GPT2Config(
            vocab_size=vocab_size,
            n_embd=hidden_size,
            n_layer=num_layers,
            n_head=heads,
            n_positions=2048,
            **ids,
        )
    raise ValueError(f"unknown tiny-model arch {arch!r}; choose one of {', '.join(ARCHS)}")


def build_tiny_model(
    out_dir: Path,
    *,
    arch: str = "llama",
    vocab_size: int = 2000,
    hidden_size: int = 64,
    num_layers: int = 2,
    with_chat_template: bool = True,
    seed: int = 0,
) -> Path:
    """Write a random-init causal LM + tokenizer into ``out_dir`` (created) and return it.

    The model's vocabulary is the tokenizer's real size (the BPE trainer may stop below ``vocab_size``
    on a small corpus), so embeddings and token ids always agree.
    """
    if arch not in ARCHS:
        raise ValueError(f"unknown tiny-model arch {arch!r}; choose one of {', '.join(ARCHS)}")
    if hidden_size < 16 or hidden_size % 16:
        raise ValueError(f"hidden_size must be a multiple of 16 (got {hidden_size})")
    import torch
    from transformers import AutoModelForCausalLM

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tokenizer(vocab_size, with_chat_template=with_chat_template)
    config = _model_config(arch, len(tokenizer), hidden_size, num_layers, tokenizer)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build a tiny random-init causal LM with a local tokenizer.")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--arch", default="llama", choices=ARCHS)
    parser.add_argument("--vocab-size", type=int, default=2000)
    parser.add_argument("--hidden-size", type=int, default=64)
    parser.add_argument("--num-layers", type=int, default=2)
    parser.add_argument("--no-chat-template", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    path = build_tiny_model(
        args.out_dir,
        arch=args.arch,
        vocab_size=args.vocab_size,
        hidden_size=args.hidden_size,
        num_layers=args.num_layers,
        with_chat_template=not args.no_chat_template,
        seed=args.seed,
    )
    print(json.dumps({"path": str(path), "arch": args.arch}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
