"""Hand-written building blocks for the demo counselling dataset (written for FT Studio, not copied).

Data only: `make_demo_data.py` composes them into conversations. Each topic has client openings (`open`),
counsellor reflections (`reflect`), open questions (`ask`), client elaborations (`follow`) that answer any
of those questions, and concrete suggestions (`suggest`). `follow[i]` answers `ask[i]`; the
last `follow` answers any of `GENERIC_ASKS`. An opening may end in `|她` or `|它`: the pronoun that fills
`{ta}` in that conversation (default 他).
"""

from __future__ import annotations

from app.demo.text_blocks import lines as _lines
from app.demo.topics_daily import TOPICS_DAILY
from app.demo.topics_self import TOPICS_SELF

SYSTEM_PROMPTS = _lines("""
你是一位温和、专业的心理咨询师，善于倾听和共情，回答简洁。
你是一名心理支持助手。请先理解来访者的感受，再给出具体、可行的小建议。
你是耐心的倾听者，用平实的中文回应来访者，不评判、不说教。
""")


TOPICS: dict[str, dict[str, list[str]]] = {**TOPICS_DAILY, **TOPICS_SELF}


# Generic pieces used across topics.
VALIDATE = _lines("""
谢谢你愿意说得这么具体，这能帮我们更清楚地看到问题在哪里。
你能这样觉察自己的状态，其实已经很不容易了。
这样的反应很常见，并不代表你哪里做得不好。
听你这么说，我更能理解你为什么会这么累了。
你说的这些都很重要，你的感受是真实的，也是合理的。
这些细节让我看到，你一直在努力面对，而不是逃避。
把这些说出口需要勇气，我很感谢你的信任。
原来是这样，难怪这件事对你的影响这么大。
""")

PUSHBACKS = [
    ("道理我都懂，可就是做不到。", "懂和做到之间本来就隔着一段路，卡住并不说明你不够努力。"),
    ("我试过类似的方法，坚持了几天就放弃了。", "能坚持几天就说明你有这份力量，中断了再重新开始也完全可以。"),
    ("我怕说出来别人会觉得我矫情。", "你的感受不需要别人批准才算数，愿意照顾它一点也不矫情。"),
    ("可我现在真的没什么力气。", "没力气的时候，我们就把目标放得再小一点，小到几乎不费力。"),
    ("这样真的会有用吗？", "改变通常是慢慢发生的，我们可以先试一周，再一起看看哪些有帮助。"),
    ("我总觉得问题出在我自己身上。", "把所有责任都揽到自己身上会很沉重，很多困难是多种因素一起造成的。"),
    ("可是身边的人好像都不理解我。", "不被理解的时候会特别孤单，至少在这里，你可以把想法都说出来。"),
    ("我担心过段时间又会回到老样子。", "反复是改变过程中很正常的一部分，回到老样子不等于前功尽弃。"),
]

CLOSINGS = [
    ("谢谢你，说出来感觉轻松了一点。", "很高兴你愿意说出来。照顾好自己，有需要的时候随时再来聊。"),
    ("嗯，我想先试试你说的办法。", "好的，先从最容易的一步开始，过几天可以再回来聊聊效果。"),
    ("我好像没那么慌了。", "能感觉到一点点松动就很好，这份平静是你自己找回来的。"),
    ("好，我会试着对自己好一点。", "这句话本身就很温暖，希望你也能把它当作给自己的承诺。"),
    ("谢谢你一直耐心听我说。", "不客气，你的感受值得被认真倾听。需要的时候，我一直在。"),
    ("我会找时间跟家人或朋友聊聊。", "这是很好的一步，让身边的人知道你的状态，你就不用一个人扛着。"),
    ("今天就先聊到这里吧。", "好的，谢谢你今天的分享，也请记得你已经迈出了重要的一步。"),
    ("我想我需要一点时间慢慢消化。", "当然可以，不需要急着想清楚，给自己一些时间和耐心。"),
]

# Open questions for the `follow` entry with no matching `ask` (the fifth one of each topic).
GENERIC_ASKS = _lines("""
能再多和我说说你现在的感受吗？
这件事里，最让你放不下的是什么？
你愿意多讲一点吗？我在认真听。
""")

INVITES = _lines("""
如果你愿意，可以再多说说具体发生了什么。
你可以先试一试，看看哪一点对你最有帮助。
这些想法你可以慢慢来，不用一下子全部做到。
有什么新的感受，也欢迎随时再来聊。
""")
