"""Chinese strings of the admin page; the lead merges ZH_ADMIN into app/i18n.py's ZH table."""

from __future__ import annotations

ZH_ADMIN: dict[str, str] = {
    "Admin": "管理",
    "Workers, their devices and the queue. Higher priority starts first; owners take turns.": (
        "工作节点、设备与队列。优先级高的先开始；不同用户轮流。"
    ),
    "Workers": "工作节点",
    "Worker": "工作节点",
    "Queues": "队列",
    "Devices": "设备",
    "Current job": "当前任务",
    "Memory": "内存",
    "Utilisation": "利用率",
    "cores": "核",
    "Drain": "排空",
    "Undrain": "恢复接单",
    "online": "在线",
    "offline": "离线",
    "draining": "排空中",
    "No worker has registered yet.": "还没有工作节点注册。",
    "Running": "运行中",
    "Run": "运行次数",
    "ETA": "预计剩余",
    "Nothing is running.": "没有正在运行的任务。",
    "Queue": "队列",
    "Priority": "优先级",
    "Set": "设置",
    "Estimated start": "预计开始",
    "Move to top": "移到最前",
    "The queue is empty.": "队列为空。",
}
