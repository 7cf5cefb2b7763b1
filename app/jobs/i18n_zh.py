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
    # Events on the job page (worker/event_sink.py NOTABLE_EVENTS) and the collapse watch's kinds
    # (worker/evaluation/collapse.py).
    "notice": "通知",
    "warning": "警告",
    "collapse": "崩溃",
    "quick_eval": "快速评估",
    "best_checkpoints": "最佳检查点",
    "best": "最佳",
    "resumed": "已继续",
    "non_finite_loss": "损失变为非有限值",
    "loss_diverged": "损失发散",
    "loss_spike": "损失突增",
    "non_finite_eval_loss": "验证损失变为非有限值",
    "eval_loss_rising": "验证损失持续上升",
    "degenerate_generations": "生成结果退化",
}

# Help under each input of the new fine-tune form, by TrainHyperparameters field (app/jobs/hyperparameters.py;
# the field's description is the English). Keyed by field name so a reworded description keeps its
# translation; a field without an entry fails tests/spine/test_i18n_coverage.py.
HYPERPARAMETER_HELP_ZH: dict[str, str] = {
    "num_train_epochs": "训练集遍历的轮数。",
    "max_steps": "要运行的优化器步数；-1 表示改用 num_train_epochs。",
    "max_train_minutes": (
        "时间预算（分钟，留空表示不限）。训练在预热后测量每步用时，据此设定步数，使学习率调度按时结束；"
        "若设置了 max_steps，仍以它为上限。"
    ),
    "per_device_train_batch_size": "每个设备每步的序列数。",
    "gradient_accumulation_steps": "每次优化器更新前累加的微批次数。",
    "learning_rate": "峰值学习率（留空：使用方法的默认值，适配器方法和全参数微调为 2e-4，冻结微调为 5e-5）。",
    "weight_decay": "AdamW 权重衰减。",
    "max_grad_norm": "梯度裁剪范数（0 表示不裁剪）。",
    "warmup_steps": "学习率线性预热的步数。",
    "lr_scheduler_type": "预热之后的学习率调度方式。",
    "logging_steps": "每 N 步写一行训练指标。",
    "eval_steps": "每 N 步评估一次（留空：有验证集时每个 epoch 评估一次）。",
    "save_steps": "每 N 步保存一个检查点。",
    "save_total_limit": "磁盘上保留的最新检查点数量（更旧的删除；设置 keep_best_k 时由它取代）。",
    "seed": "随机种子（数据顺序、dropout、初始化）。",
    "max_seq_length": "每条训练序列的 token 数。",
    "precision": (
        "auto：支持 bf16 的 GPU 用 bf16，较旧的 GPU 用 fp16，CPU 上用该工作节点实测更快的精度（bf16 更"
        "快才用 bf16，否则 fp32）；fp32；fp16（混合精度，动态损失缩放）；bf16（混合精度）；pure_bf16（"
        "权重也是 bf16）。适配器方法把冻结的基座保持为 16 位类型，以 fp32 训练适配器；全参数微调保留 "
        "fp32 主权重（pure_bf16 除外）。"
    ),
    "gradient_checkpointing": "重新计算激活值以节省内存（更慢）。",
    "packing": (
        "在精确的前提下使用无填充批次：每行放多条样本，按最佳适配打包，每条样本的位置编号从零重新开始（"
        "GPU 上使用 flash-attention varlen）；无法精确打包的模型或方法（P-tuning、前缀微调、提示微调）"
        "改用按长度分组的批次。关闭：每行一条样本，用填充补齐。"
    ),
    "split_long_dialogues": (
        "把超过 max_seq_length 的对话切成若干窗口，每个窗口都以助手回复结尾，使每条回复都带着放得下的最"
        "近上下文训练一次（默认）。关闭：在长度上限处截断，只训练对话开头的几轮（首轮回复略好，后面的回"
        "复差很多）。"
    ),
    "opening_weight": (
        "对话被切成窗口后，开头窗口（训练最初几条回复的窗口）每个 epoch 训练的次数；后面的窗口各训练一"
        "次。与部署后模型的每次对话都从开头开始，而切窗后开头在一段长对话的样本中只占六分之一。1（默认"
        "）：每个窗口权重相同，对整段对话效果最好；在心理咨询对话上，3 让首轮回复明显更好、后面的回复变"
        "弱。"
    ),
    "train_on_prompt": (
        "也在用户轮次上训练，而不只在助手回复上：损失也覆盖来访者的表达方式（每个用户轮次与它引出的回复"
        "一起训练一次；系统提示随对话开头训练）。关闭（默认）：只学习回复；在心理咨询对话上这样首轮回复"
        "更好。"
    ),
    "chat_template": (
        "对话格式：auto 使用模型自带的聊天模板（没有模板的基座模型使用推测的备用模板）；填写名称则强制"
        "使用该备用模板。"
    ),
    "optim": (
        "优化器：adamw_torch、adamw_torch_fused、adafactor、sgd、adamw_8bit、adamw_bnb_8bit、paged_"
        "adamw_8bit、paged_adamw_32bit、lion_8bit、paged_lion_8bit 之一。"
    ),
    "lora_r": "LoRA 秩 r。",
    "lora_alpha": "LoRA alpha（缩放系数 = alpha / r）。",
    "lora_dropout": "LoRA 输入上的 dropout。",
    "lora_target_modules": (
        '要适配的模块："all-linear"、"attention"、"attention+mlp"，或以逗号分隔的模块名。'
    ),
    "lora_preset": "basic：r=8, alpha=16；advanced：r=16, alpha=32（会覆盖 lora_r 和 lora_alpha）。",
    "quant_bits": "QLoRA：把基座模型量化为 4 位或 8 位。",
    "double_quant": "QLoRA：对量化常数再量化一次。",
    "bnb_compute_dtype": "QLoRA 的计算精度。",
    "num_virtual_tokens": "P-tuning / 前缀微调 / 提示微调：虚拟 token 数。",
    "encoder_reparameterization_type": "P-tuning 的提示编码器。",
    "encoder_hidden_size": "P-tuning 编码器的隐藏层大小。",
    "adapter_bottleneck_size": "Adapter 瓶颈层宽度。",
    "adapter_non_linearity": "Adapter 激活函数。",
    "freeze_trainable_layers": "冻结微调：训练最后多少层。",
    "zero_stage": "DeepSpeed ZeRO 阶段（留空：不使用 DeepSpeed）。",
    "offload_optimizer": "DeepSpeed：把优化器状态放在 CPU 内存中。",
    "offload_params": "DeepSpeed ZeRO-3：把参数放在 CPU 内存中。",
    "num_processes": "训练进程数（每块 GPU 一个）。",
    "quick_eval_every_n_checkpoints": (
        "数据集有验证集时，每 N 个检查点做一次快速生成检查（0：关闭）。无论此项如何，损失崩溃监测都在每"
        "个记录步运行。"
    ),
    "quick_eval_samples": "快速检查为多少条验证集行生成回复。",
    "collapse_action": (
        "当损失变为非有限值、突增或发散（或快速检查发现输出崩溃）时：pause 保存检查点后停止，之后可以继"
        "续训练；stop 直接结束；flag 只记录事件。"
    ),
    "keep_best_k": "按 metric_for_best 在磁盘上保留最好的 K 个检查点，外加最新的一个（续训需要它）；取代 "
    "save_total_limit。留空：保留最新的 save_total_limit 个。",
    "metric_for_best": "检查点的排序依据，每个检查点只用它自己那一步的值："
    "eval_loss（验证集损失，每次保存时评估）、loss（自上次保存以来的平均训练损失）、repetition（快速检查）越低越好；bleu4（快速检查）越高越好。",
}


def _help_by_description() -> dict[str, str]:
    """The help above as translation entries: English description -> Chinese."""
    from app.jobs.hyperparameters import TrainHyperparameters

    fields = TrainHyperparameters.model_fields
    return {fields[name].description: text for name, text in HYPERPARAMETER_HELP_ZH.items() if name in fields}


ZH_HYPERPARAMETERS: dict[str, str] = _help_by_description()

# Sentences the training child and the supervisor write into events (app.i18n.sentence): the English
# template, exactly as in the worker's code, and its Chinese. The values keep their format specs.
ZH_TRAINING_EVENTS: dict[str, str] = {
    "time budget {minutes:g} min: {seconds:.1f} s/step measured, training {steps} steps": (
        "时间预算 {minutes:g} 分钟：实测每步 {seconds:.1f} 秒，训练 {steps} 步"
    ),
    "time budget {minutes:g} min: {seconds:.1f} s/step measured, training {steps} steps (the "
    "learning-rate schedule could not be re-timed)": (
        "时间预算 {minutes:g} 分钟：实测每步 {seconds:.1f} 秒，训练 {steps} 步（学习率调度无法随之调整）"
    ),
    "training loss became {loss} at step {step}: lower the learning rate or use bf16/fp32": (
        "训练损失在第 {step} 步变为 {loss}：请降低学习率，或改用 bf16/fp32"
    ),
    "loss {loss:.4g} at step {step} is {ratio:.0f}x the best so far ({best:.4g}): training diverged; lower "
    "the learning rate": (
        "第 {step} 步的损失 {loss:.4g} 是目前最好值（{best:.4g}）的 {ratio:.0f} 倍：训练已发散，请降低学习率"
    ),
    "loss {loss:.4g} at step {step} has stayed above {factor:g}x the starting loss ({first:.4g}) for {logs} "
    "logs: training diverged; lower the learning rate": (
        "第 {step} 步的损失 {loss:.4g} 已连续 {logs} 次记录高于起始损失（{first:.4g}）的 {factor:g} 倍："
        "训练已发散，请降低学习率"
    ),
    "loss spiked to {loss:.4g} at step {step}, {ratio:.1f}x the running median {median:.4g} of the last "
    "{logs} logs: lower the learning rate": (
        "第 {step} 步的损失突增到 {loss:.4g}，是最近 {logs} 次记录的中位数 {median:.4g} 的 {ratio:.1f} 倍："
        "请降低学习率"
    ),
    "eval loss became {loss} at step {step}": "验证损失在第 {step} 步变为 {loss}",
    "eval loss rose {times} evaluations in a row to {loss:.4g} (best {best:.4g}) at step {step}: the model "
    "is over-fitting or diverging; keep an earlier checkpoint": (
        "验证损失连续 {times} 次评估上升，第 {step} 步达到 {loss:.4g}（最好 {best:.4g}）："
        "模型过拟合或正在发散，请保留更早的检查点"
    ),
    "at step {step}: {problems}": "第 {step} 步：{problems}",
    "best by {metric}: steps {steps}": "按 {metric} 最好的检查点：第 {steps} 步",
    "best by {metric}: steps {steps}; removed {removed}": (
        "按 {metric} 最好的检查点：第 {steps} 步；已删除第 {removed} 步"
    ),
    "answers repeat themselves (repetition ratio {ratio:.2f})": "回答自我重复（重复率 {ratio:.2f}）",
    "{share:.0%} of answers are empty": "{share:.0%} 的回答为空",
    "{n} answers contain chat-template markers": "{n} 个回答含有对话模板标记",
    "all {n} answers are the same text": "全部 {n} 个回答内容相同",
    "max_seq_length={limit} leaves {untrained} of {replies} assistant replies ({share:.0%}) untrained: "
    "conversations longer than the limit are cut, so only their opening turns train and the model learns "
    "little about later turns. split_long_dialogues=true trains every reply once, with the recent context "
    "that fits.": (
        "max_seq_length={limit} 使 {replies} 条助手回复中的 {untrained} 条（{share:.0%}）得不到训练："
        "超过长度上限的对话被截断，只有开头几轮参与训练，模型对后面的轮次学得很少。"
        "split_long_dialogues=true 会让每条回复都训练一次，并带上放得下的最近上下文。"
    ),
    "quick evaluation is not available ({error}); training goes on without it": (
        "快速评估不可用（{error}）；训练将在没有它的情况下继续"
    ),
    "keep_best_k ranks checkpoints by {metric}, which needs a validation split; this dataset has none, so "
    "the newest {kept} checkpoints are kept": (
        "keep_best_k 按 {metric} 给检查点排序，这需要验证集；"
        "此数据集没有验证集，因此保留最新的 {kept} 个检查点"
    ),
    "The lost run had saved a checkpoint at step {step} that it had not reported yet: resuming from there "
    "instead of step {chosen}.": (
        "丢失的那次运行在第 {step} 步保存过一个尚未上报的检查点：从那里继续，而不是从第 {chosen} 步。"
    ),
}
