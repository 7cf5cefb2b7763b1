"""One translation mechanism for every page: English source strings, a Chinese table, a per-request language.

Templates call ``t("English text")``; the language comes from the ``lang`` cookie (set by the switch in
the navigation bar) or the ``?lang=`` query. Missing entries fall back to English, so a new string never
breaks a page.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from functools import lru_cache

LANGUAGES = ("zh", "en")
current_language: ContextVar[str] = ContextVar("current_language", default="zh")

ZH: dict[str, str] = {
    "FT Studio": "FT Studio 微调工作室",
    "Datasets": "数据集",
    "Models": "模型",
    "New fine-tune": "新建微调",
    "Jobs": "任务",
    "Language": "语言",
    "Upload a dataset": "上传数据集",
    "File": "文件",
    "Name (optional)": "名称（可选）",
    "Upload": "上传",
    "Uploading…": "上传中…",
    "Validation rows": "验证集条数",
    "Validation fraction": "验证集比例",
    "Bad rows": "问题行",
    "Drop bad rows": "丢弃问题行",
    "Reject the file": "拒绝整个文件",
    "Name": "名称",
    "Version": "版本",
    "Format": "格式",
    "Encoding": "编码",
    "Rows": "行数",
    "Invalid": "无效",
    "Train / validation": "训练 / 验证",
    "Duplicates (exact / near)": "重复（完全 / 近似）",
    "Status": "状态",
    "Created": "创建时间",
    "No datasets yet.": "还没有数据集。",
    "Dataset uploaded": "数据集已上传",
    "Upload failed": "上传失败",
    "Source": "来源",
    "Architecture": "架构",
    "Parameters": "参数量",
    "Path": "路径",
    "No models yet.": "还没有模型。",
    "Dataset": "数据集",
    "Base model": "基座模型",
    "Method": "方法",
    "Hyperparameters": "超参数",
    "Start fine-tuning": "开始微调",
    "Advanced": "高级",
    "Kind": "类型",
    "chosen by auto": "由“自动”选择",
    "Progress": "进度",
    "Loss": "损失",
    "No jobs yet.": "还没有任务。",
    "Cancel": "取消",
    "Resume": "继续训练",
    "Checkpoints": "检查点",
    "Step": "步",
    "Size": "大小",
    "Error": "错误",
    "ETA": "预计剩余",
    "Loss curve": "损失曲线",
    "Started": "开始时间",
    "Finished": "结束时间",
    "Events": "事件",
    "queued": "排队中",
    "running": "训练中",
    "succeeded": "已完成",
    "failed": "失败",
    "cancelled": "已取消",
    "interrupted": "已中断",
    "train": "训练",
    "eval": "评估",
    "export": "导出",
    "Job": "任务",
    "Peak memory": "峰值内存",
    "Predicted peak": "预测峰值",
    "Worker": "工作节点",
    "Please choose a file.": "请选择文件。",
    "Fix the highlighted field and try again.": "请修改标出的字段后重试。",
    "Upload your data, pick a base model and a method, and watch it train.": (
        "上传数据，选择基座模型和方法，然后观看训练过程。"
    ),
    "seconds": "秒",
    "API docs": "API 文档",
    "latest": "最新",
}

def _domain_tables() -> dict[str, str]:
    """Each capability keeps its Chinese strings beside its code (app/<domain>/i18n_zh.py, ZH_<DOMAIN>)."""
    import importlib
    import pkgutil

    import app

    merged: dict[str, str] = {}
    for module in pkgutil.iter_modules(app.__path__):
        if not module.ispkg:
            continue
        try:
            table = importlib.import_module(f"app.{module.name}.i18n_zh")
        except ModuleNotFoundError:
            continue
        for name, value in vars(table).items():
            if name.startswith("ZH_") and isinstance(value, dict):
                merged.update(value)
    return merged


@lru_cache
def tables() -> dict[str, dict[str, str]]:
    # Built on first use, not at import: the domain packages may import modules that import this one.
    return {"zh": {**_domain_tables(), **ZH}, "en": {}}


def translate(text: str, language: str | None = None) -> str:
    return tables().get(language or current_language.get(), {}).get(text, text)


def translate_format(template: str, values: Mapping[str, object], language: str | None = None) -> str:
    """A sentence with values in it ("{millions}M parameters ..."): translates the template, then fills it."""
    return translate(template, language).format(**values)


def pick_language(cookie: str | None, query: str | None, default: str) -> str:
    for candidate in (query, cookie, default):
        if candidate in LANGUAGES:
            return candidate
    return "zh"


def sentence(template: str, **values: object) -> dict[str, object]:
    """A message to be said in the reader's language later: the English template and its values, as a
    worker writes it into an event (`said`) long before anyone opens the page. A value may be a list of
    sentences, said joined ("a; b"). Templates are translated in the domains' i18n_zh tables."""
    return {"template": template, "values": values}


def say(said: object, fallback: str | None = None, language: str | None = None) -> str:
    """A `sentence` in the page's language (or `language`); the fallback (the message as written) for a row
    written before sentences existed, or whose values no longer fit its template."""
    if not isinstance(said, Mapping) or not isinstance(said.get("template"), str):
        return fallback or ""
    language = language or current_language.get()
    values: dict[str, object] = {}
    for name, value in dict(said.get("values") or {}).items():
        if isinstance(value, list):  # parts, each a sentence: joined with the language's own semicolon
            value = ("；" if language == "zh" else "; ").join(say(part, "", language) for part in value)
        values[name] = value
    try:
        return translate(said["template"], language).format(**values)
    except (KeyError, IndexError, ValueError, TypeError):
        return fallback or ""


def in_english(said: dict[str, object]) -> str:
    """The English text of a sentence: the `message` / `reason` every event keeps for logs, API and CLI."""
    return say(said, language="en")

