"""The reader's language: built-in labels for `en` and `zh-CN`, dates and date ranges through Babel."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_interval

# Labels a template shows. A site owner can change any of them by overriding the block that
# shows it; a language without an entry here gets the English labels and Babel's dates.
LABELS: dict[str, dict[str, str]] = {
    "en": {
        "issue": "Issue {number}",
        "read": "Read “{title}”",
        "key_figures": "Key figures",
        "key_figures_text": "Key figures:",
        "more": "More this week",
        "more_span": "More in this issue",
        "updated": "Updated since we wrote about them",
        "other": "Other",
        "note": "From the editor",
        "why": "You are getting this email because you subscribed to {site}.",
        "unsubscribe": "Unsubscribe",
        "view_in_browser": "View in browser",
        "unsubscribe_text": "Unsubscribe: {url}",
        "view_text": "View in browser: {url}",
        "count": "{count} articles",
        "count_one": "{count} article",
        "nothing_new": "Nothing new this week: no articles were published since the last issue.",
    },
    "zh-CN": {
        "issue": "第 {number} 期",
        "read": "阅读全文：《{title}》",
        "key_figures": "关键数字",
        "key_figures_text": "关键数字：",
        "more": "本期更多",
        "more_span": "本期更多",
        "updated": "往期文章有更新",
        "other": "其他",
        "note": "编者按",
        "why": "您收到这封邮件，是因为您订阅了{site}。",
        "unsubscribe": "退订",
        "view_in_browser": "在浏览器中查看",
        "unsubscribe_text": "退订：{url}",
        "view_text": "在浏览器中查看：{url}",
        "count": "{count} 篇文章",
        "count_one": "{count} 篇文章",
        "nothing_new": "本周没有新文章：自上一期以来没有发布新内容。",
    },
}

# System fonts only (no web-font download): Latin first, then the CJK faces of each platform,
# so Chinese text never falls back to a serif face in Outlook or Android.
# Short, because it is repeated on every text block of the email.
FONT_STACK = (
    "-apple-system,BlinkMacSystemFont,'Segoe UI',Arial,"
    "'PingFang SC','Hiragino Sans GB','Microsoft YaHei','Noto Sans CJK SC',sans-serif"
)


# An issue of at most a week is a week's; the hour is for a week that crosses a DST change and
# for a scheduled build that starts a little after the last one did.
WEEK = timedelta(days=7, hours=1)


def labels_for(language: str) -> dict[str, str]:
    """The labels of `language` (e.g. `zh-CN`, `zh_cn`, `zh`), English when there are none."""
    norm = language.replace("_", "-").casefold()
    for key, table in LABELS.items():
        if key.casefold() == norm:
            return table
    base = norm.split("-")[0]
    for key, table in LABELS.items():
        if key.casefold().split("-")[0] == base:
            return table
    return LABELS["en"]


def issue_labels(language: str, since: datetime, until: datetime) -> dict[str, str]:
    """The labels of one issue: `more` names its overflow list by its span, "More this week" only
    for an issue of a week or less (`more_span`, "More in this issue", for a month or a year)."""
    table = labels_for(language)
    return {**table, "more": table["more_span"]} if until - since > WEEK else table


@lru_cache(maxsize=16)
def babel_locale(language: str) -> Locale:
    try:
        return Locale.parse(language.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        return Locale.parse("en")


@lru_cache(maxsize=4096)  # Babel is slow, and a shortened issue formats each date several times
def format_day(when: datetime, tz: Any, language: str) -> str:
    """One article's date in the reader's locale and the site's zone: `Jul 5, 2025`, `2025年7月5日`."""
    return format_date(when.astimezone(tz).date(), format="medium", locale=babel_locale(language))


def format_range(since: datetime, until: datetime, tz: Any, language: str) -> str:
    """The issue's [since, until) as days: `until` is exclusive, so midnight means the day before."""
    start = since.astimezone(tz)
    end = until.astimezone(tz)
    if end > start:
        end = end - timedelta(microseconds=1)
    locale = babel_locale(language)
    if end.date() <= start.date():
        return format_date(start.date(), format="medium", locale=locale)
    return format_interval(start.date(), end.date(), skeleton="yMMMd", locale=locale)
