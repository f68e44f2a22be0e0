"""Build Issues for rendering tests: N articles alternating Chinese and English, with figures and images.

Deterministic: the same arguments always give the same Issue, so golden files stay stable.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from digest.config import Settings, settings_from_mapping
from digest.models import Article, Issue, KeyFigure

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
