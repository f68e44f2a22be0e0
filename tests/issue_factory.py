"""Build Issues for rendering tests: N articles alternating Chinese and English, with figures and images.

Deterministic: the same arguments always give the same Issue, so golden files stay stable.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from digest.config import Settings, settings_from_mapping
from digest.models import Article, Issue, KeyFigure
from digest.text import cut

TZ = ZoneInfo("Asia/Shanghai")
SINCE = datetime(2025, 7, 1, tzinfo=TZ)
UNTIL = datetime(2025, 7, 8, tzinfo=TZ)

ZH_TITLES = [
    "阿里巴巴宣布三年投入3800亿元建设云和AI基础设施",
    "国家统计局：上半年国内生产总值同比增长5.3%",
    "新能源汽车出口量创新高，比亚迪海外销量翻倍",
    "央行下调存款准备金率0.5个百分点，释放长期资金约1万亿元",
]
ZH_TLDR = (
    "阿里巴巴集团宣布，未来三年将投入超过3800亿元人民币，用于建设云计算和AI硬件基础设施，"
    "总额超过过去十年总和。分析人士认为，这一投资将加速国内大模型产业的发展，并带动上下游供应链。"
)
EN_TITLES = [
    "Microsoft commits $80 billion to AI data centres in fiscal 2025",
    "Why the ECB's June cut may be its last for a while",
    "Shipping rates through the Red Sea: a field guide for importers",
    "Solar now the cheapest electricity in history, IEA says",
]
EN_TLDR = (
    "Microsoft plans to spend about $80 billion on AI-enabled data centres in its fiscal year 2025, "
    "more than half of it in the United States, as demand for training and inference capacity keeps "
    "outgrowing supply across its cloud regions."
)
ZH_FIGURES = [
    KeyFigure("3800亿元", "未来三年AI与云基础设施投入"),
    KeyFigure("535亿美元", "折合美元的投资总额"),
    KeyFigure("10年", "超过过去十年在该领域的投入总和"),
]
EN_FIGURES = [
    KeyFigure("$80bn", "AI data-centre spending in fiscal 2025"),
    KeyFigure("50%+", "share of the spending in the United States"),
]
TOPICS_ZH = [["科技", "AI"], ["经济"], ["汽车", "出口"], ["金融"]]
TOPICS_EN = [["Tech", "AI"], ["Economy"], ["Trade"], ["Energy"]]


def make_article(i: int, *, zh: bool | None = None) -> Article:
    """Article number `i` (0-based, newest first); even numbers Chinese, odd English unless `zh` says."""
    zh = (i % 2 == 0) if zh is None else zh
    k = (i // 2) % 4
    title = ZH_TITLES[k] if zh else EN_TITLES[k]
    if i >= 8:  # the eight base titles are used up: keep titles unique, as a real issue's are
        title += f"（{i}）" if zh else f" ({i})"
    slug = f"article-{i:03d}"
    with_figures = i % 3 != 2  # every third article has no figures: no box
    return Article(
        path=f"posts/{slug}.md",
        source=Path(f"posts/{slug}.md"),
        title=title,
        date=UNTIL - timedelta(hours=3 * i + 5),
        topics=list((TOPICS_ZH if zh else TOPICS_EN)[k]),
        url=f"https://news.example.com/posts/{slug}/",
        image=f"https://news.example.com/images/{slug}.jpg" if i % 2 == 0 else None,
        slug=slug,
        tldr=ZH_TLDR if zh else EN_TLDR,
        key_figures=list(ZH_FIGURES if zh else EN_FIGURES) if with_figures else [],
    )


def make_issue(n: int = 6, *, number: int | None = 7, note: str | None = None, more: int = 0) -> Issue:
    """An issue of `n` articles (plus `more` in the plain list) covering 2025-07-01 to 2025-07-08."""
    arts = [make_article(i) for i in range(n + more)]
    return Issue(
        issue_id="2025-07-01_2025-07-08",
        since=SINCE,
        until=UNTIL,
        articles=arts[:n],
        number=number,
        note=note,
        more=arts[n:],
    )


def make_settings(root: Path | None = None, language: str = "en", **sections: dict) -> Settings:
    """Settings for the sample site in `language`; `sections` are merged into config.yaml's mapping."""
    data: dict = {
        "site": {
            "title": "新闻简报 Newsroom Digest" if language == "zh-CN" else "Newsroom Digest",
            "base_url": "https://news.example.com",
            "language": language,
            "timezone": "Asia/Shanghai",
            "postal_address": "Newsroom Digest, 1 Example Road, Shanghai",
            "archive_url": "https://news.example.com/newsletter/",
        },
        "mail": {"unsubscribe_url": "https://news.example.com/unsubscribe?u=TOKEN"},
    }
    for key, value in sections.items():
        data[key] = {**data.get(key, {}), **value}
    return settings_from_mapping(data, root or Path("/nonexistent-site"))


# --- a realistic week: cards like a news site's (benchmarks/render.py) ------------------------------

WEEK_ZH_TITLES = [
    "阿里巴巴宣布三年投入3800亿元建设云和AI基础设施",
    "国家统计局：上半年国内生产总值同比增长5.3%，消费对经济增长贡献率达77.2%",
    "新能源汽车出口量创新高",
    "央行下调存款准备金率0.5个百分点，释放长期资金约1万亿元",
    "长三角一体化发展规划纲要实施五周年：区域协同迈上新台阶",
    "Istio 1.22 发布：Ambient 模式进入 Beta",
    "暑期档电影票房突破100亿元",
    "多地出台措施支持首套住房贷款利率下调",
]
WEEK_ZH_TEXTS = [
    "阿里巴巴集团宣布，未来三年将投入超过3800亿元人民币，用于建设云计算和AI硬件基础设施，总额超过过去十年总和。"
    "分析人士认为，这一投资将加速国内大模型产业的发展，并带动上下游供应链。公司表示，新增算力将优先用于开源模型的训练，"
    "并向中小企业开放。业内预计，服务器、光模块和液冷设备的订单将在下半年明显增加，相关企业已开始扩产。",
    "国家统计局发布数据显示，上半年国内生产总值为616836亿元，按不变价格计算，同比增长5.3%。其中，二季度同比增长5.2%，"
    "环比增长1.1%。最终消费支出对经济增长的贡献率为77.2%，拉动GDP增长4.1个百分点。专家指出，外需回暖和设备更新政策"
    "共同支撑了工业生产，但房地产投资仍在下降，下半年稳增长政策有望继续加码。",
    "中国汽车工业协会数据显示，今年上半年新能源汽车出口量达到106万辆，同比增长75.2%，比亚迪海外销量翻倍。"
    "欧洲、东南亚和拉美成为主要增长市场。与此同时，欧盟对中国电动汽车加征临时反补贴税，部分车企开始在匈牙利、泰国和巴西"
    "建设工厂，以本地生产应对贸易壁垒。分析认为，出口结构正从整车转向整车加零部件和技术输出。",
    "中国人民银行宣布，下调金融机构存款准备金率0.5个百分点，预计释放长期资金约1万亿元。此次降准后，金融机构加权平均"
    "存款准备金率约为7.0%。央行有关负责人表示，此举旨在保持流动性合理充裕，降低银行资金成本，支持实体经济融资需求。"
    "市场人士预计，贷款市场报价利率下月有望跟随下行。",
    "Istio 社区发布 1.22 版本，Ambient 模式正式进入 Beta 阶段。新版本中，ztunnel 和 waypoint 代理的稳定性大幅提升，"
    "无需 Sidecar 即可实现 mTLS 和 L7 策略。测试表明，在 1000 个服务的集群中，Ambient 模式的内存占用比 Sidecar 模式降低"
    "约 90%，CPU 开销降低约 50%。社区建议用户在预发布环境中先行验证，再逐步迁移生产流量。",
]
WEEK_EN_TITLES = [
    "Microsoft commits $80 billion to AI data centres in fiscal 2025",
    "Why the ECB's June cut may be its last for a while",
    "Shipping rates through the Red Sea: a field guide for importers facing a second summer of diversions",
    "Solar now the cheapest electricity in history, IEA says",
    "Inside the race to build a battery that charges in five minutes",
    "Istio 1.22 takes ambient mode to beta",
    "The quiet comeback of the four-day week",
    "What the new EU AI Act means for a five-person startup",
]
WEEK_EN_TEXTS = [
    "Microsoft plans to spend about $80 billion on AI-enabled data centres in its fiscal year 2025, more than half "
    "of it in the United States, as demand for training and inference capacity keeps outgrowing supply across its "
    "cloud regions. The company says the build-out will also fund new power purchase agreements and liquid cooling. "
    "Analysts expect suppliers of chips, optics and transformers to feel the orders by the end of the year.",
    "The European Central Bank cut its deposit rate by a quarter point to 3.75% in June, its first cut since 2019. "
    "But services inflation is stuck above 4% and wage growth remains strong, so several members of the governing "
    "council have signalled that July is off the table. Markets now price one or two more cuts this year, down from "
    "three in April. The bank's new projections see inflation at 2.5% in 2024.",
    "Container rates from Shanghai to Rotterdam have tripled since April as carriers keep routing around the Cape of "
    "Good Hope, adding 10 to 14 days to each voyage. Importers who book early, split cargo between carriers and hold "
    "more safety stock have fared best. Forwarders expect the diversions to last into 2025, with peak-season "
    "surcharges of $1,000 to $2,000 per box already announced by the largest lines.",
    "Solar power is now the cheapest source of electricity in history, the International Energy Agency says in its "
    "latest outlook, with utility-scale projects in sunny regions producing power at $20 to $40 per megawatt-hour. "
    "The agency expects solar to overtake coal as the largest source of installed capacity by 2027, although grids "
    "and storage are struggling to keep pace with the number of new connections.",
    "Istio 1.22 moves ambient mode to beta: ztunnel and waypoint proxies give mTLS and layer-7 policy without "
    "sidecars. In the project's tests on a 1,000-service cluster, ambient mode used about 90% less memory and 50% "
    "less CPU than sidecars. Maintainers recommend trying it in a staging cluster first and moving production "
    "namespaces one at a time, since some sidecar features are not yet supported.",
]
WEEK_ZH_FIGURES = [
    KeyFigure("3800亿元", "未来三年AI与云基础设施投入"),
    KeyFigure("5.3%", "上半年国内生产总值同比增长"),
    KeyFigure("106万辆", "上半年新能源汽车出口量，同比增长75.2%"),
    KeyFigure("约1万亿元", "降准释放的长期资金"),
    KeyFigure("90%", "Ambient 模式相比 Sidecar 降低的内存占用"),
    KeyFigure("77.2%", "最终消费支出对经济增长的贡献率"),
]
WEEK_EN_FIGURES = [
    KeyFigure("$80bn", "AI data-centre spending in fiscal 2025"),
    KeyFigure("3.75%", "the ECB's deposit rate after the June cut"),
    KeyFigure("10 to 14 days", "added to each voyage by the Cape diversion"),
    KeyFigure("$20-40/MWh", "utility-scale solar in sunny regions"),
    KeyFigure("90%", "less memory in ambient mode than with sidecars"),
    KeyFigure("2027", "when solar overtakes coal in installed capacity"),
]
WEEK_ZH_TOPICS = [["科技", "AI", "云计算"], ["经济"], ["汽车", "出口"], ["金融", "货币政策"], ["云原生"]]
WEEK_EN_TOPICS = [["Tech", "AI", "Cloud"], ["Economy"], ["Trade", "Shipping"], ["Energy"], ["Cloud native"]]


def make_week_article(i: int, *, zh: bool) -> Article:
    """Article `i` of a realistic week: varied titles, TL;DRs of 120 to 280 characters cut as the summary cuts them,
    zero to six key figures, an image on two in three, one to three topics."""
    titles, texts = (WEEK_ZH_TITLES, WEEK_ZH_TEXTS) if zh else (WEEK_EN_TITLES, WEEK_EN_TEXTS)
    figures, topics = (WEEK_ZH_FIGURES, WEEK_ZH_TOPICS) if zh else (WEEK_EN_FIGURES, WEEK_EN_TOPICS)
    title = titles[i % len(titles)]
    if i >= len(titles):  # keep titles unique, as a real week's are
        title += f"（{i}）" if zh else f" ({i})"
    slug = f"week-{i:03d}"
    count = (4, 2, 6, 0, 3, 5)[i % 6]  # 3.3 on average, as in the dev corpus
    return Article(
        path=f"posts/{slug}.md",
        source=Path(f"posts/{slug}.md"),
        title=title,
        date=UNTIL - timedelta(hours=3 * i + 5),
        topics=list(topics[i % len(topics)]),
        url=f"https://news.example.com/posts/{slug}/",
        image=f"https://news.example.com/images/{slug}.jpg" if i % 3 != 1 else None,
        slug=slug,
        tldr=cut(texts[i % len(texts)], 120 + (i * 37) % 161, at="sentence"),
        key_figures=[figures[(i + j) % len(figures)] for j in range(count)],
    )


def make_week(n: int = 50, *, language: str = "en") -> Issue:
    """A realistic issue of `n` articles all in `language` ("en" or "zh-CN"), for rendering at full size."""
    zh = language.startswith("zh")
    return Issue(
        issue_id="2025-07-01_2025-07-08",
        since=SINCE,
        until=UNTIL,
        articles=[make_week_article(i, zh=zh) for i in range(n)],
        number=27,
    )
