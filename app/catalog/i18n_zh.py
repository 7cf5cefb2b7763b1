"""Chinese strings of the models page (merged by app/i18n.py)."""

from __future__ import annotations

ZH_CATALOG: dict[str, str] = {
    "Own code": "自带代码",
    "Allowed": "已允许",
    "Off": "关闭",
    "Allow its code": "允许运行其代码",
    "Forbid its code": "禁止运行其代码",
    "Jobs run the Python code shipped with this model (trust_remote_code).": (
        "任务会运行此模型自带的 Python 代码（trust_remote_code）。"
    ),
    "Only an admin can allow a model to run its own code.": "只有管理员可以允许模型运行其自带代码。",
}
