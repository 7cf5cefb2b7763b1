"""Chinese strings of the scorecard pages; the lead merges ZH_EVALUATIONS into app.i18n.ZH."""

from __future__ import annotations

ZH_EVALUATIONS: dict[str, str] = {
    "Evaluations": "评估",
    "Evaluation": "评估",
    "Evaluated": "评估对象",
    "MMCU leaderboard": "MMCU 排行榜",
    "MMCU accuracy": "MMCU 准确率",
    "Accuracy": "准确率",
    "All questions": "全部题目",
    "Overall": "平均",
    "Overall (mean of domains)": "平均（各领域的均值）",
    "Domain": "领域",
    "Sub-file": "子文件",
    "Metric": "指标",
    "Value": "数值",
    "Scores": "分数",
    "Scores of this evaluation": "本次评估的分数",
    "Difference": "差值",
    "Base vs fine-tuned": "基座 vs 微调",
    "Fine-tuned": "微调后",
    "Fine-tune of": "微调自",
    "Compare with base model": "与基座模型对比",
    "Example generations": "生成示例",
    "Example": "示例",
    "Prompt": "提示",
    "Prompts": "提示数",
    "Reference": "参考答案",
    "Generated": "生成结果",
    "Generation": "生成方式",
    "Questions": "题目数",
    "Mode": "模式",
    "Model": "模型",
    "Folder on the server": "服务器上的文件夹",
    "validation split": "验证集",
    "multiple choice": "选择题",
    "course (5 beams)": "课程配置（5 束）",
    "generate (MMCU reference)": "生成作答（MMCU 原协议）",
    "all": "全部",
    "Quick evaluation during training": "训练中的快速评估",
    "Eval loss": "验证损失",
    "Repetition": "重复度",
    "Distinct": "多样性",
    "Best checkpoints": "最佳检查点",
    "This run may be collapsing": "本次训练可能正在崩溃",
    "collapse detected": "检测到崩溃",
    "action": "处理",
    "flag": "仅标记",
    "pause": "暂停",
    "stop": "停止",
    "real difference": "真实差异",
    "within noise": "在噪声范围内",
    "ours": "本平台",
    "Not evaluated yet.": "尚未评估。",
    "Both evaluations run on the GPU queue; this page updates itself.": (
        "两个评估正在 GPU 队列中运行，本页会自动刷新。"
    ),
    "One of the evaluations did not succeed; there is nothing to compare.": "有一个评估未成功，无法对比。",
    "Difference = fine-tuned − base. The interval is a paired bootstrap 95% interval over the same "
    "prompts or questions: when it contains 0, the difference may be noise.": (
        "差值 = 微调后 − 基座。区间是在相同提示或题目上的配对 bootstrap 95% 置信区间："
        "区间包含 0 时，差异可能只是噪声。"
    ),
    "Zero-shot accuracy per domain (mean of its sub-files) and overall (mean of the four domains), as MMCU "
    "publishes. Our rows are only MMCU scores when the folder is the real MMCU test set; the shared sample "
    "folder is a stand-in with other questions.": (
        "零样本准确率：每个领域为其子文件的均值，平均为四个领域的均值，与 MMCU 公布方式一致。"
        "只有在真实的 MMCU 测试集上评估时，本平台的结果才是 MMCU 分数；"
        "共享样例文件夹是题目不同的替代数据。"
    ),
    'No evaluations yet. Open a finished fine-tune and click "Compare with base model".': (
        "还没有评估。打开一个已完成的微调任务，点击“与基座模型对比”。"
    ),
    "evaluated at an earlier step": "在更早的一步评估",
}
