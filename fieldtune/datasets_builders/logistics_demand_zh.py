"""Chinese order / shipment notes for `logistics_demand` (`data.language: zh`, `fieldtune data logistics_demand
--language zh`): the English generator's design in the phrases a Chinese logistics desk writes.

The phrase tables here are drawn by `logistics_demand.draw_order` with the English generator's factors: the
quantity follows from what the note says (volume, customer, urgency, season), so the demand level is
learnable from the text. About a third of the notes type their digits full-width (`２个托盘`), as Chinese input methods often do; phrases that do not move the quantity
(冷链, 报关, 订舱 ...) add the vocabulary of real notes. Deterministic by seed.
"""

from __future__ import annotations

import random

# phrase -> base units, or multiplier on them (the English generator's numbers)
VOLUMES = {
    "几箱零散货": 6,
    "十来箱": 12,
    "1个托盘": 30,
    "2个托盘": 60,
    "半车货": 110,
    "一整车": 220,
    "好几个集装箱": 600,
}
CUSTOMERS = {
    "街边便利店": 0.5,
    "连锁药房": 0.9,
    "区域分销商": 1.5,
    "建筑工地": 1.2,
    "全国连锁商超": 2.5,
}
URGENCY = {
    "不急": 0.8,
    "标准配送": 1.0,
    "本周内要货": 1.15,
    "加急，产线有停工风险": 1.3,
}
SEASON = {"淡季": 0.7, "正常周": 1.0, "旺季前备货": 1.5}
PRODUCTS = [
    "瓶装水", "袋装水泥", "输送带备件", "打印纸", "冷冻鱼", "机油",
    "LED灯泡", "番茄罐头", "安全帽", "液压软管", "大米", "纸尿裤",
]  # fmt: skip
REGIONS = ["华北", "华南", "华东", "华中", "西南", "沿海", "西北"]
EXTRAS = [
    "需冷链运输。", "报关资料已备齐。", "已订舱，请按时装柜。", "卸货需提前预约。", "请用托盘缠膜。",
    "客户单号PO{po}。", "",
]  # fmt: skip
TEMPLATES = [
    "{customer}（{region}）补货申请：{product}，{volume}。{urgency}；{season}。{extra}",
    "发货备注：{volume}{product}，发往{region}仓，客户：{customer}。{season}，{urgency}。{extra}",
    "请安排{volume}{product}。客户：{customer}，{region}。优先级：{urgency}。背景：{season}。{extra}",
    "{region}{customer}订购{product}——{volume}，{urgency}。备注：{season}。{extra}",
]
LEVEL_NAMES = {"low": "低", "medium": "中", "high": "高"}  # the demand levels as the desk names them
FULL_WIDTH_SHARE = 0.35
_FULL_WIDTH_DIGITS = str.maketrans("0123456789", "０１２３４５６７８９")


def note(rng: random.Random, volume: str, customer: str, urgency: str, season: str) -> str:
    """One Chinese note saying what `logistics_demand.draw_order` drew (region, product and an extra phrase
    drawn here); a share of them with full-width digits."""
    text = rng.choice(TEMPLATES).format(
        customer=customer, region=rng.choice(REGIONS), product=rng.choice(PRODUCTS), volume=volume,
        urgency=urgency, season=season, extra=rng.choice(EXTRAS).format(po=rng.randint(1000, 99999)),
    ).strip()  # fmt: skip
    return text.translate(_FULL_WIDTH_DIGITS) if rng.random() < FULL_WIDTH_SHARE else text
