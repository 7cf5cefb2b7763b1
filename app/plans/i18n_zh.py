"""Chinese strings of the plan panel and the new-job form's issue #12 additions (English -> Chinese)."""

from __future__ import annotations

ZH_PLANS: dict[str, str] = {
    "Plan for": "规划设备",
    "CPU (this studio's workers)": "CPU（本工作室的工作节点）",
    "CPU": "CPU",
    "per process": "每进程",
    "precision": "精度",
    "as you set it": "与您的设置相同",
    "Every value below is copied from job": "以下所有值均复制自任务",
}
