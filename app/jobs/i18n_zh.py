"""Chinese strings of the job dashboard, job list and compare pages; merged by app.i18n (ZH_ tables)."""

from __future__ import annotations

ZH_JOBS: dict[str, str] = {
    "Clone": "克隆",
    "Loss": "损失",
    "Loss (smoothed)": "损失（平滑）",
    "Eval loss": "验证损失",
    "Smoothing": "平滑",
    "Learning rate": "学习率",
    "Grad norm": "梯度范数",
    "Tokens/s": "每秒 token 数",
    "Memory": "内存",
    "Measured peak": "实测峰值",
    "Measured when the run ends, against the planner's prediction.": "训练结束时测量，与规划器的预测对比。",
    "Only differences": "只看不同",
    "Log": "日志",
    "Last lines": "最后几行",
    "more": "更多",
    "No log yet.": "暂无日志。",
    "Compare": "对比",
    "Compare selected": "对比所选",
    "Pick two or more jobs.": "请选择两个或更多任务。",
    "Compare runs": "对比训练",
    "Configuration": "配置",
    "differences are marked": "不同之处已标出",
    "Final loss": "最终损失",
    "Steps": "步数",
    "None of these jobs has been evaluated yet.": "这些任务都还没有评估。",
    "Queue position": "排队位置",
    "starting": "启动中",
    "queued": "排队中",
}
