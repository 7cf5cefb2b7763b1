"""Prompt templates in the course's four parts (role, requirements, limits, output format) plus the user
message, with {variables}. Pure: used by the web (preview), the service (validation) and the child."""

from __future__ import annotations

import re
from typing import Any

VARIABLE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
PARTS = ("role", "requirements", "limits", "output_format")
# Filled in for every request by the generator; a template may use them without declaring them.
BUILTIN_VARIABLES = ("topic", "n", "turns", "seed")
HEADINGS = {"requirements": "Requirements", "limits": "Limits", "output_format": "Output format"}

DEFAULT_TEMPLATE: dict[str, Any] = {
    "name": "counselling-qa",
    "role": "你是一位经验丰富的心理咨询师，同时负责编写心理咨询对话训练数据。",
    "requirements": (
        "围绕给定主题写一段来访者与咨询师之间的对话。来访者的提问具体、口语化；"
        "咨询师的回答温暖、共情，并给出切实可行的建议。"
    ),
    "limits": (
        "不做医学诊断，不推荐药物；对话中若出现自伤或自杀的念头，建议对方立即联系专业人员或心理援助热线。"
        "每个回答不超过200字。"
    ),
    "output_format": (
        '只输出一个 JSON 对象，不要输出任何其他内容：{"messages": [{"role": "user", "content": "..."}, '
        '{"role": "assistant", "content": "..."}]}，共 {turns} 轮（一问一答为一轮）。'
    ),
    "prompt": "主题：{topic}",
    "variables": {},
    "multi_turn": False,
}

# Prompts used when the seeds are rows of a dataset version instead of topics.
SEED_PROMPTS = {
    "vary": "参考下面这段对话，写一段主题相近但内容不同的新对话：\n{seed}",
    "continue": "接着下面这段对话继续写 {turns} 轮，只输出新的轮次：\n{seed}",
}


class TemplateError(ValueError):
    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def variables_used(template: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for part in (*PARTS, "prompt"):
        names.update(VARIABLE.findall(str(template.get(part) or "")))
    return names


def check_template(template: dict[str, Any]) -> None:
    """Every {name} must be a built-in variable or one the template defines; the prompt must not be empty."""
    if not str(template.get("prompt") or "").strip():
        raise TemplateError("The prompt (the user message) is empty.", field="template.prompt")
    defined = set((template.get("variables") or {}).keys()) | set(BUILTIN_VARIABLES)
    unknown = sorted(variables_used(template) - defined)
    if unknown:
        raise TemplateError(
            f"The template uses {{{unknown[0]}}}, which is neither built in ({', '.join(BUILTIN_VARIABLES)}) "
            "nor defined under variables.",
            field="template.variables",
        )


def _fill(text: str, values: dict[str, Any]) -> str:
    # Only {identifier} is replaced: JSON examples like {"role": ...} in the output format stay as written.
    return VARIABLE.sub(lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), text)


def render_messages(template: dict[str, Any], values: dict[str, Any]) -> list[dict[str, str]]:
    """System message from the four parts, user message from the prompt, variables filled in."""
    merged = {**(template.get("variables") or {}), **values}
    blocks = []
    if template.get("role"):
        blocks.append(_fill(str(template["role"]), merged).strip())
    for part, heading in HEADINGS.items():
        if template.get(part):
            blocks.append(f"{heading}:\n{_fill(str(template[part]), merged).strip()}")
    messages = [{"role": "system", "content": "\n\n".join(blocks)}] if blocks else []
    messages.append({"role": "user", "content": _fill(str(template["prompt"]), merged).strip()})
    return messages


def seed_text(row: dict[str, Any]) -> str:
    """A seed conversation as readable lines for the {seed} variable."""
    names = {"system": "System", "user": "User", "assistant": "Assistant"}
    return "\n".join(f"{names.get(m['role'], m['role'])}: {m['content']}" for m in row.get("messages") or [])
