"""Chinese strings of the export / resume actions and the method-aware form, for the lead to merge into
app/i18n.py's ZH table (English source -> Chinese)."""

from __future__ import annotations

from app.jobs.form import METHOD_LABELS, TARGET_PRESETS

ZH_EXPORTS: dict[str, str] = {
    "Export": "导出",
    "Resume": "继续训练",
    "Download": "下载",
    "Fine-tune this export again": "在此导出模型上继续微调",
    "From checkpoint": "从检查点",
    "From": "来源",
    "In the model list as": "已加入模型列表：",
    "LoRA presets": "LoRA 预设",
    "Mode": "模式",
    "Model": "模型",
    "step": "步",
    "final model": "最终模型",
    "as planned": "按原计划",
    "merged into the base": "合并进基座模型",
    "adapter only": "仅适配器",
    "Target modules preset": "目标模块预设",
    "custom (names below)": "自定义（在下方填写模块名）",
    "basic": "基础",
    "advanced": "进阶",
    # Method labels (app/jobs/form.py METHOD_LABELS).
    METHOD_LABELS["qlora"]: "QLoRA（4/8 位量化基座 + LoRA）",
    METHOD_LABELS["ptuning"]: "P-tuning",
    METHOD_LABELS["prefix"]: "前缀微调（Prefix tuning）",
    METHOD_LABELS["prompt"]: "提示微调（Prompt tuning）",
    METHOD_LABELS["adapter"]: "Adapter（瓶颈适配器）",
    METHOD_LABELS["freeze"]: "冻结微调（只训练最后几层）",
    METHOD_LABELS["full"]: "全参数微调",
    METHOD_LABELS["auto"]: "自动（推荐）：小模型在内存允许时全参数微调，否则 LoRA",
    # Target-module presets (app/jobs/form.py TARGET_PRESETS).
    TARGET_PRESETS["attention"]: "attention：q_proj,k_proj,v_proj,o_proj（Qwen、LLaMA）；"
    "query_key_value（ChatGLM、BLOOM）；W_pack,o_proj（百川）",
    TARGET_PRESETS["attention+mlp"]: "attention + MLP：再加上 gate_proj,up_proj,down_proj（Qwen、LLaMA）",
    TARGET_PRESETS["all-linear"]: "除输出层外的全部线性层",
}
