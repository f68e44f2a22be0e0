"""Who an issue is for: the recipients, those skipped (and why), and the issue each topic set gets.

The same for a send and a dry run. Skipped: an address in `mail.suppression_file`, one the
subscriber store blocks (unsubscribed, bounced, complained: `blocked`, handed in by the
pipeline, which alone reads the store), and a reader whose topics match no article this issue.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from digest.config import Settings
from digest.delivery.recipients import Recipient, RecipientList, collect_recipients, read_suppression
from digest.models import Article, Issue, normalise_topic

TopicKey = frozenset[str] | None
SUPPRESSED = "suppressed (mail.suppression_file)"


def topic_key(topics: Iterable[str] | None) -> TopicKey:
    return None if topics is None else frozenset(normalise_topic(t) for t in topics)


def issue_for_topics(issue: Issue, key: TopicKey) -> Issue:
    """The issue with only the articles carrying one of the topics (all of them for None)."""
    if key is None:
        return issue

    def match(articles: list[Article]) -> list[Article]:
        return [a for a in articles if key & {normalise_topic(t) for t in a.topics}]

    return replace(issue, articles=match(issue.articles), more=match(issue.more))


def as_recipients(recipients: RecipientList | Iterable[Recipient | str]) -> RecipientList:
    """A RecipientList from addresses and Recipient objects, in order, checked and deduplicated."""
    if isinstance(recipients, RecipientList):
        return recipients
    listed = RecipientList()
    seen: set[str] = set()
    for item in recipients:
        if isinstance(item, str):
            one = collect_recipients([item])
            listed.problems += one.problems
            if not one.recipients:
                continue
            item = one.recipients[0]
        if item.key in seen:
            listed.duplicates += 1
            continue
        seen.add(item.key)
        listed.recipients.append(item)
    return listed


@dataclass
class Audience:
    """Who the issue is for, and what each topic set gets."""

    everyone: list[Recipient]
    skipped: dict[str, str]  # recipient key -> why they get no message
    issues: dict[TopicKey, Issue]


def audience(settings: Settings, issue: Issue, listed: RecipientList, blocked: Mapping[str, str]) -> Audience:
    """`blocked`: recipient keys the subscriber store says never to mail, each with why."""
    suppressed_keys = (
        read_suppression(settings.path(settings.mail.suppression_file)) if settings.mail.suppression_file else set()
    )
    everyone = listed.recipients + listed.suppressed
    skipped: dict[str, str] = {r.key: SUPPRESSED for r in listed.suppressed}
    issues: dict[TopicKey, Issue] = {}
    for r in everyone:
        if r.key in suppressed_keys:
            skipped[r.key] = SUPPRESSED
        elif r.key in blocked and r.key not in skipped:
            skipped[r.key] = blocked[r.key]
        key = topic_key(r.topics)
        if key not in issues:
            issues[key] = issue_for_topics(issue, key)
        sub = issues[key]
        if key is not None and not (sub.articles or sub.more) and r.key not in skipped:
            skipped[r.key] = f"no article this issue has topics {', '.join(r.topics or ())}"
    return Audience(everyone, skipped, issues)
