"""What the subscriber store says about a send: who is on the list, who is never mailed, each
reader's id and token, and which addresses a send found gone.

- `mail.recipients: subscribers` (or `digest send --recipients subscribers`) sends to the store's
  confirmed rows, each with their topics; a CSV keeps working.
- Every send (CSV, `--to` or subscribers) skips the keys the store blocks (unsubscribed,
  bounced, complained), reported like the suppression file's skips.
- Each reader still to send gets their opaque id (`sids_for`, one transaction for the run) and
  the signed MANAGE token of it, which their unsubscribe URL carries: never their address.
- After a run, a permanent failure whose reply says the mailbox is gone (`address_gone`:
  5.1.x, 5.2.1) marks the address bounced (source "send"), so the next issue skips it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path

from digest.config import RECIPIENTS_SUBSCRIBERS, Settings
from digest.delivery.message import NO_TOKEN
from digest.delivery.ports import ReaderId, ReaderIds
from digest.delivery.recipients import Recipient, RecipientList, check_name, collect_recipients
from digest.delivery.smtp import address_gone
from digest.errors import DigestError
from digest.pipeline.subscribers import open_store
from digest.state.subscribers import SubscriberStore
from digest.tokens import MANAGE, make_token

Clock = Callable[[], float]  # unix seconds

BLOCKED_WHY = {
    "unsubscribed": "unsubscribed (subscriber store)",
    "bounced": "bounced (subscriber store; `digest bounces forget ADDR` undoes a false one)",
    "complained": "complained: marked an issue as spam (subscriber store)",
}


def subscriber_recipients(store: SubscriberStore) -> RecipientList:
    """The store's confirmed rows as recipients, each with their name and topics."""
    listed = RecipientList()
    for sub in store.confirmed():
        name = sub.name
        bad = check_name(name) if name else ""
        if bad:
            listed.problems.append(f"subscriber {sub.address}: the name {name!r} has {bad}; sent without a name")
            name = None
        listed.recipients.append(Recipient(sub.address, name, sub.topics))
    return listed


def gather_recipients(
    settings: Settings, to: Iterable[str] = (), csv_path: Path | None = None, *, subscribers: bool = False,
    clock: Clock,
) -> RecipientList:
    """`--to` addresses, then a CSV's rows, then (with `subscribers`) the store's confirmed rows: deduplicated."""
    listed = collect_recipients(to, csv_path)
    if not subscribers:
        return listed
    with open_store(settings, clock=clock) as store:
        confirmed = subscriber_recipients(store)
    listed.problems += confirmed.problems
    seen = {r.key for r in listed.recipients + listed.suppressed}
    for r in confirmed.recipients:
        if r.key in seen:
            listed.duplicates += 1
        else:
            seen.add(r.key)
            listed.recipients.append(r)
    return listed


def recipients_for_schedule(settings: Settings, *, clock: Clock) -> RecipientList:
    """`mail.recipients`: the store's confirmed subscribers, or a CSV read relative to config.yaml."""
    if not settings.mail.recipients:
        raise DigestError(
            "schedule.action is send but mail.recipients is not set",
            hint=f"set mail.recipients to `{RECIPIENTS_SUBSCRIBERS}` or to a CSV with an `email` column",
        )
    if settings.mail.recipients == RECIPIENTS_SUBSCRIBERS:
        return gather_recipients(settings, subscribers=True, clock=clock)
    return collect_recipients(csv_path=settings.path(settings.mail.recipients))


def blocked_reasons(store: SubscriberStore) -> dict[str, str]:
    """Keys never to mail, each with why."""
    keys = store.blocked_keys()
    if not keys:
        return {}
    states = {s.key: s.state for state in BLOCKED_WHY for s in store.all(state)}
    return {key: BLOCKED_WHY.get(states.get(key, ""), "blocked (subscriber store)") for key in keys}


def reader_ids(store: SubscriberStore, secret: bytes | None) -> ReaderIds:
    """Addresses -> {key: ReaderId}: their sids in one transaction, and the MANAGE token of each
    (NO_TOKEN without a secret: the messages then carry no token URL)."""

    def ids(addresses: Sequence[str]) -> Mapping[str, ReaderId]:
        sids = store.sids_for(addresses)
        if secret is None:
            return {key: ReaderId(sid, NO_TOKEN) for key, sid in sids.items()}
        return _SignedOnRead(sids, secret)

    return ids


class _SignedOnRead(Mapping[str, ReaderId]):
    """key -> ReaderId, each MANAGE token signed when first read: a sender of a fleet sends only the
    rows it claims (a quarter of them, of four), and signing costs ~40 µs a token (42 ms for 1,000
    readers, that each of four senders starting together paid in full)."""

    def __init__(self, sids: Mapping[str, str], secret: bytes) -> None:
        self._sids, self._secret = sids, secret
        self._made: dict[str, ReaderId] = {}

    def __getitem__(self, key: str) -> ReaderId:
        made = self._made.get(key)
        if made is None:
            sid = self._sids[key]
            made = self._made[key] = ReaderId(sid, make_token(self._secret, MANAGE, sid))
        return made

    def __iter__(self) -> Iterator[str]:
        return iter(self._sids)

    def __len__(self) -> int:
        return len(self._sids)


def mark_send_bounces(store: SubscriberStore, failed: Iterable[tuple[str, str]]) -> list[str]:
    """Mark bounced each address that failed permanently with a reply saying its mailbox is gone
    (`address_gone`: 5.1.x, 5.2.1; never 5.7.x); the addresses newly marked.

    `failed`: (address, reply) of the permanent failures of one run, so a rerun (which sends
    no failed row again) marks nothing twice, and a `digest bounces forget` stays forgotten.
    The store keeps an unsubscribe or complaint over a bounce, and marks nothing twice itself.
    """
    marked = []
    for address, reply in failed:
        if address_gone(reply) and store.mark_bounced(address, source="send", detail=reply) == "bounced":
            marked.append(address)
    return marked
