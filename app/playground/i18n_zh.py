"""Chinese strings of the playground and deployment pages (merged by app/i18n.py)."""

ZH_PLAYGROUND = {
    "Playground": "对话试验场",
    "Deployments": "部署",
    "Side by side": "并排对比",
    "System prompt": "系统提示词",
    "Generation settings": "生成参数",
    "Preset": "预设",
    "custom": "自定义",
    "num_beams and num_return_sequences above 1 show the answers as alternatives.": (
        "num_beams 与 num_return_sequences 大于 1 时，多个回答作为备选显示。"
    ),
    "Pick a model": "选择模型",
    "Pick a model first.": "请先选择模型。",
    "Exports": "导出模型",
    "Type a message; Ctrl+Enter sends": "输入消息；Ctrl+Enter 发送",
    "Send": "发送",
    "Stop": "停止",
    "Regenerate": "重新生成",
    "Clear": "清空",
    "Copy": "复制",
    "Copied": "已复制",
    "Conversations": "对话记录",
    "a new dataset": "新数据集",
    "Save the left conversation as training data": "将左侧对话保存为训练数据",
    "Saved as dataset version": "已保存为数据集版本",
    "Answered from the FAQ": "来自常见问题库的回答",
    "similarity": "相似度",
    "threshold": "阈值",
    "Alternative": "备选",
    "loading": "加载中",
    "ready": "就绪",
    "stopped": "已停止",
    "Chat with this model": "与该模型对话",
    "Each deployment answers at /v1 (OpenAI-compatible) with its own API keys.": (
        "每个部署通过 /v1（兼容 OpenAI 接口）提供服务，使用各自的 API 密钥。"
    ),
    "Load time": "加载耗时",
    "Requests": "请求数",
    "Tokens": "词元数",
    "Errors": "错误数",
    "Chat": "对话",
    "New API key": "新建 API 密钥",
    "Undeploy": "下线",
    "No deployments yet: open a model in the playground or POST /api/v1/deployments.": (
        "还没有部署：在对话试验场中打开一个模型，或调用 POST /api/v1/deployments。"
    ),
}
