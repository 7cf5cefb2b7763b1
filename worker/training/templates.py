"""Fallback chat templates for base models that ship none, and the choice between them.

Each template is Jinja as transformers' ``apply_chat_template`` renders it (``messages``, ``bos_token``,
``eos_token``, ``add_generation_prompt``). Formats follow the models' own chat code and LLaMA-Factory's
``template.py`` (hiyouga/LLaMA-Factory, Apache-2.0). Every template here renders a conversation so that the
rendering of its first k messages is a prefix of the rendering of all of them; the assistant-only labels rely
on that (chat_data.py checks it and names the template when it does not hold).

An assistant turn always ends with the token the model must learn to stop on (<|im_end|>, </s>, <|eot_id|>,
eos), and that token belongs to the assistant's span, so it is trained.
"""

from __future__ import annotations

from typing import Any

CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# Baichuan2: <reserved_106> opens a user turn, <reserved_107> an assistant turn (token ids 195 / 196 in its
# vocabulary); the system prompt is bare text in front; an assistant turn ends with eos.
BAICHUAN2 = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ message['content'] }}"
    "{% elif message['role'] == 'user' %}{{ '<reserved_106>' + message['content'] }}"
    "{% else %}{{ '<reserved_107>' + message['content'] + eos_token }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<reserved_107>' }}{% endif %}"
)

# Llama-2 chat (Meta's chat_completion format): the system prompt goes inside the first [INST] in <<SYS>>.
LLAMA2 = (
    "{% if messages[0]['role'] == 'system' %}"
    "{% set system = '<<SYS>>\n' + messages[0]['content'] + '\n<</SYS>>\n\n' %}"
    "{% set loop_messages = messages[1:] %}"
    "{% else %}{% set system = '' %}{% set loop_messages = messages %}{% endif %}"
    "{% for message in loop_messages %}"
    "{% if message['role'] == 'user' %}"
    "{{ bos_token + '[INST] ' + (system if loop.first else '') + message['content'] + ' [/INST]' }}"
    "{% else %}{{ ' ' + message['content'] + ' ' + eos_token }}{% endif %}"
    "{% endfor %}"
)

# Llama-3 instruct: header tokens around the role, <|eot_id|> closes every turn.
LLAMA3 = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' }}"
    "{{ message['content'] + '<|eot_id|>' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)

# ChatGLM3: "[gMASK]sop" prefix, role tokens <|system|> <|user|> <|assistant|> each followed by a newline.
# The model itself stops on the next <|user|>; we end assistant turns with eos so that the stop is learned
# inside the assistant span (LLaMA-Factory's "efficient_eos").
CHATGLM3 = (
    "{{ '[gMASK]sop' }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}{{ '<|assistant|>\n' + message['content'] + eos_token }}"
    "{% else %}{{ '<|' + message['role'] + '|>\n' + message['content'] }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)

FALLBACK_TEMPLATES: dict[str, str] = {
    "chatml": CHATML,
    "baichuan2": BAICHUAN2,
    "llama2": LLAMA2,
    "llama3": LLAMA3,
    "chatglm3": CHATGLM3,
}


def guess_fallback(tokenizer: Any, model_type: str | None = None) -> str:
    """The fallback template a base model most likely expects, from its special tokens and model type."""
    vocab = tokenizer.get_vocab()
    model_type = (model_type or "").lower()
    if "<|start_header_id|>" in vocab:
        return "llama3"
    if "<|im_start|>" in vocab:
        return "chatml"
    if "chatglm" in model_type or "[gMASK]" in vocab:
        return "chatglm3"
    if "baichuan" in model_type or "<reserved_106>" in vocab:
        return "baichuan2"
    if model_type == "llama" and "[INST]" not in vocab and tokenizer.bos_token == "<s>":
        return "llama2"
    return "chatml"


def choose_chat_template(tokenizer: Any, requested: str = "auto", model_type: str | None = None) -> str:
    """Set ``tokenizer.chat_template`` and return where it came from ("model" or a fallback name).

    "auto" keeps the model's own template and falls back by guess only when it has none; a fallback name
    replaces the model's template on purpose (the user chose it).
    """
    if requested == "auto":
        if getattr(tokenizer, "chat_template", None):
            return "model"
        requested = guess_fallback(tokenizer, model_type)
    if requested not in FALLBACK_TEMPLATES:
        raise ValueError(
            f"unknown chat template {requested!r}; choose auto or one of {', '.join(FALLBACK_TEMPLATES)}"
        )
    tokenizer.chat_template = FALLBACK_TEMPLATES[requested]
    return requested
