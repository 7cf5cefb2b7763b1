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
    "Memory plan": "显存 / 内存规划",
    "FlashAttention / SDPA kernels": "FlashAttention / SDPA 内核",
    "fits": "放得下",
    "does not fit": "放不下",
    "of": "/",
    "per GPU": "每块 GPU",
    "peak in": "峰值出现在",
    "host RAM": "主机内存",
    "s/step": "秒/步",
    "Memory breakdown": "内存构成",
    "Longest sequence that fits": "放得下的最长序列",
    "largest micro-batch that fits": "放得下的最大微批次",
    "Recommended": "推荐配置",
    "no DeepSpeed": "不用 DeepSpeed",
    "offload": "卸载",
    "checkpointing": "梯度检查点",
    "Nothing fits on this GPU: add GPUs, shorten sequences or choose QLoRA.": (
        "这块 GPU 上没有放得下的配置：增加 GPU、缩短序列或选择 QLoRA。"
    ),
}

# The planner's phases and breakdown terms (app/planner/core.py, memory.py, zero.py), shown in the bar's
# legend and tooltips.
ZH_PLAN_TERMS: dict[str, str] = {
    "forward": "前向",
    "backward": "反向",
    "optimizer_step": "优化器更新",
    "CUDA context": "CUDA 上下文",
    "DDP gradient buckets": "DDP 梯度桶",
    "ZeRO all-gather bucket": "ZeRO all-gather 桶",
    "ZeRO reduce buckets": "ZeRO reduce 桶",
    "ZeRO-3 live parameters": "ZeRO-3 活跃参数",
    "ZeRO-3 persistent parameters": "ZeRO-3 常驻参数",
    "activations": "激活值",
    "adapter weights": "适配器权重",
    "allocator overhead": "分配器开销",
    "autocast weight copies": "autocast 权重副本",
    "final norm / head input": "最终归一化 / 输出头输入",
    "fp32 gradient partition": "fp32 梯度分片",
    "gradients": "梯度",
    "import baseline": "进程导入基线",
    "glibc heap retention": "glibc 堆保留",
    "layer backward working set": "单层反向工作集",
    "logits and loss": "logits 与损失",
    "master weights (fp32)": "主权重（fp32）",
    "master weights (offloaded)": "主权重（已卸载）",
    "optimizer states": "优化器状态",
    "optimizer states (offloaded)": "优化器状态（已卸载）",
    "pinned transfer buffers": "锁页传输缓冲区",
    "weights (frozen)": "权重（冻结）",
    "weights (quantized)": "权重（量化）",
    "weights (trainable)": "权重（可训练）",
}


# Why `method: "auto"` chose: its sentence templates, keyed by the constants themselves so a reworded English
# sentence keeps its translation.
def _auto_method_sentences() -> dict[str, str]:
    from app.planner.method_choice import ABOVE_1B, FULL_DOES_NOT_FIT, FULL_FITS, NOTE, SIZE_UNREADABLE

    needs = "这个 {millions}M 参数模型的全参数微调需要 {peak} GiB，"
    fits = "{millions}M 参数，全参数微调放得下（{where} {peak} / {capacity} GiB）："
    why = "小模型全参数微调每分钟学到的比 LoRA 多（benchmarks/quality.py）"
    return {
        NOTE: "自动：{method}，因为{reason}",
        ABOVE_1B: "{millions}M 参数：超过 1B 时，未指定方法的用户使用 LoRA",
        FULL_DOES_NOT_FIT["cpu"]: needs + "主机内存只有 {capacity} GiB：使用 LoRA",
        FULL_DOES_NOT_FIT["gpu"]: needs + "每块 GPU 只有 {capacity} GiB：使用 LoRA",
        FULL_FITS["cpu"]: fits.replace("{where}", "主机内存") + why,
        FULL_FITS["gpu"]: fits.replace("{where}", "每块 GPU") + why,
        SIZE_UNREADABLE: "读不到模型的大小（{error}）：使用 LoRA",
    }


ZH_AUTO_METHOD: dict[str, str] = _auto_method_sentences()
