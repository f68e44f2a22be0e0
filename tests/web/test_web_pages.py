"""digest serve's pages over real HTTP: uvicorn on 127.0.0.1, the confirmation mail through aiosmtpd."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from smtp_servers import Inbox, serve
from web_servers import ONE_CLICK, SECRET, Clock, confirm_link, running_app, site_settings, wait_for_mail

from digest.config import Settings
from digest.state.subscribers import SubscriberStore
from digest.tokens import CONFIRM, MANAGE, make_token


@dataclass
class Site:
    url: str
    inbox: Inbox
    clock: Clock
    settings: Settings

    def store(self) -> SubscriberStore:
        return SubscriberStore.open(self.settings, clock=self.clock)

    def state(self, address: str) -> str | None:
        with self.store() as store:
            row = store.get(address)
            return row.state if row else None

    def events(self, address: str) -> list[dict[str, object]]:
        with self.store() as store:
            return store.events(address)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10)


@pytest.fixture
def site(tmp_path: Path, request: pytest.FixtureRequest, state_engine: str) -> Iterator[Site]:
    """The pages served over HTTP, their ledger on each engine (a file, then PostgreSQL)."""
    subscribe = getattr(request, "param", {})
    inbox = Inbox()
    with serve(inbox) as smtp_port:
        settings = site_settings(tmp_path, smtp_port, state=state_engine, **subscribe)
        clock = Clock()
        with running_app(settings, clock) as url:
            yield Site(url, inbox, clock, settings)


def subscribe(client: httpx.Client, address: str, **fields: str) -> httpx.Response:
    return client.post("/subscribe", data={"email": address, **fields})


def test_subscribe_mails_a_link_that_confirms_only_on_post(site: Site) -> None:
    """POST /subscribe mails a confirm link; following it (GET) changes nothing; its button (POST) confirms."""
    with site.client() as client:
        answer = subscribe(client, "reader@example.org", topic="AI")
        assert answer.status_code == 200 and "Check your inbox" in answer.text
        wait_for_mail(site.inbox, 1)
        link = confirm_link(site.inbox, "reader@example.org")
        assert "reader" not in link and "example.org" not in link  # no address in the URL
        assert site.state("reader@example.org") == "pending"
        page = client.get(link)
        assert page.status_code == 200 and "<button" in page.text
        assert site.state("reader@example.org") == "pending"  # a link scanner's GET does nothing
        token = link.split("t=")[1]
        done = client.post("/confirm", params={"t": token})
        assert done.status_code == 200 and "You are subscribed" in done.text
        again = client.post("/confirm", params={"t": token})
        assert again.status_code == 200 and "Already confirmed" in again.text
    assert site.state("reader@example.org") == "confirmed"
    assert [e["to_state"] for e in site.events("reader@example.org")] == ["pending", "confirmed"]
    message = site.inbox.received[0].message
    assert message["To"] == "reader@example.org" and "Confirm" in message["Subject"]
    assert message.get_body(("html",)) is not None


def test_one_click_post_as_a_mail_provider_makes_it_unsubscribes(site: Site) -> None:
    """RFC 8058: a cookie-less form-encoded `List-Unsubscribe=One-Click` POST unsubscribes at once, 200, no cookie."""
    with site.store() as store:
        store.add("leaver@example.org")
        sid = store.sid_for("leaver@example.org")
    token = make_token(SECRET, MANAGE, sid)
    with httpx.Client(timeout=10) as provider:  # a fresh client: no cookies, no page visited first
        answer = provider.post(f"{site.url}/unsubscribe?t={token}", content=b"List-Unsubscribe=One-Click",
                               headers=ONE_CLICK)
        twice = provider.post(f"{site.url}/unsubscribe?t={token}", content=b"List-Unsubscribe=One-Click",
                              headers=ONE_CLICK)
    assert answer.status_code == 200 and "set-cookie" not in answer.headers
    assert twice.status_code == 200 and "Already unsubscribed" in twice.text
    assert site.state("leaver@example.org") == "unsubscribed"
    events = site.events("leaver@example.org")
    assert events[-1]["to_state"] == "unsubscribed" and events[-1]["source"] == "one-click"


def test_get_unsubscribe_only_shows_a_button(site: Site) -> None:
    """GET /unsubscribe (a link scanner) changes nothing; the page's own button unsubscribes."""
    with site.store() as store:
        store.add("scanned@example.org")
        sid = store.sid_for("scanned@example.org")
    token = make_token(SECRET, MANAGE, sid)
    with site.client() as client:
        for _ in range(3):
            page = client.get("/unsubscribe", params={"t": token})
            assert page.status_code == 200 and "<button" in page.text
        assert site.state("scanned@example.org") == "confirmed"
        done = client.post("/unsubscribe", data={"t": token})
    assert done.status_code == 200 and site.state("scanned@example.org") == "unsubscribed"
    assert site.events("scanned@example.org")[-1]["source"] == "form"


def test_subscribe_answers_the_same_whatever_the_address_state(site: Site) -> None:
    """No enumeration: a new, pending, confirmed or unsubscribed address gets the same status and page."""
    with site.store() as store:
        store.add("confirmed@example.org")
        store.add("gone@example.org")
        store.remove("gone@example.org")
    with site.client() as client:
        subscribe(client, "pending@example.org")
        answers = {}
        for who in ("new", "pending", "confirmed", "gone"):
            address = f"{who}@example.org"
            answer = subscribe(client, address)
            answers[who] = (answer.status_code, answer.text.replace(address, "ADDRESS"), sorted(answer.headers))
    assert len(set(map(str, answers.values()))) == 1, answers
    assert site.state("confirmed@example.org") == "confirmed"  # not made pending again


@pytest.mark.parametrize("site", [{"rate_per_ip": 3}], indirect=True)
def test_a_flood_from_one_ip_is_refused(site: Site) -> None:
    """Past subscribe.rate_per_ip sign-ups an hour one IP gets 429 and no mail; another IP, the next hour: fine."""
    with site.client() as client:
        statuses = [subscribe(client, f"bot{i}@example.org").status_code for i in range(5)]
        other = subscribe(client, "other@example.org").status_code
        assert statuses == [200, 200, 200, 429, 429]
        elsewhere = client.post("/subscribe", data={"email": "x@example.org"}, headers={"x-forwarded-for": "192.0.2.7"})
        assert other == 429 and elsewhere.status_code == 200
        site.clock.advance(hours=1.01)
        assert subscribe(client, "later@example.org").status_code == 200
    wait_for_mail(site.inbox, 5)
    assert site.state("bot4@example.org") is None


def test_one_address_gets_at_most_rate_per_address_mails(site: Site) -> None:
    """The same page every time, but no more than subscribe.rate_per_address (3) confirmation mails a day."""
    with site.client() as client:
        for _ in range(6):
            answer = client.post("/subscribe", data={"email": "target@example.org"},
                                 headers={"x-forwarded-for": f"192.0.2.{_ + 1}"})
            assert answer.status_code == 200 and "Check your inbox" in answer.text
    wait_for_mail(site.inbox, 3)
    assert site.inbox.counts()["target@example.org"] == 3


def test_honeypot_gets_the_usual_page_and_nothing_else(site: Site) -> None:
    """A filled hidden field: the usual answer, no row, no mail."""
    with site.client() as client:
        answer = subscribe(client, "bot@example.org", website="http://spam.example")
    assert answer.status_code == 200 and "Check your inbox" in answer.text
    assert site.state("bot@example.org") is None and not site.inbox.received


@pytest.mark.parametrize(
    ("email", "shown"),
    [
        ("not an address", "not an email address"),
        ("a@b@example.org", "one @"),
        ("josé@example.org", "SMTPUTF8"),
        ("Name <x@example.org>", "display name"),
    ],
)
def test_bad_addresses_get_a_clear_message(site: Site, email: str, shown: str) -> None:
    """A malformed or internationalised address: 400, the form again with the reason; no row, no mail."""
    with site.client() as client:
        answer = subscribe(client, email)
    assert answer.status_code == 400 and shown in answer.text and 'aria-invalid="true"' in answer.text
    assert not site.inbox.received


@pytest.mark.parametrize("field", ["email", "topic", "lang"])
def test_crlf_in_any_field_is_refused(site: Site, field: str) -> None:
    """A line break in any field (a header injection attempt) is refused: 400, no mail."""
    fields = {"email": "ok@example.org", field: "ok@example.org\r\nBcc: victim@example.org"}
    with site.client() as client:
        answer = client.post("/subscribe", data=fields)
    assert answer.status_code == 400 and not site.inbox.received
    assert site.state("ok@example.org") is None


def test_oversized_bodies_get_413(site: Site) -> None:
    """More than 16 KB, announced or chunked, is refused before the app reads it."""
    big = b"email=a%40example.org&pad=" + b"x" * 20_000
    with site.client() as client:
        announced = client.post("/subscribe", content=big, headers=ONE_CLICK)
        chunked = client.post("/subscribe", content=iter([big[:8000], big[8000:]]), headers=ONE_CLICK)
    assert announced.status_code == 413 and chunked.status_code == 413
    assert site.state("a@example.org") is None


def test_forged_expired_and_replayed_tokens(site: Site) -> None:
    """Forged or cross-purpose tokens: 400; a confirm link past its TTL or after an unsubscribe: 410."""
    with site.client() as client:
        subscribe(client, "late@example.org")
        wait_for_mail(site.inbox, 1)
        token = confirm_link(site.inbox, "late@example.org").split("t=")[1]
        with site.store() as store:
            sid = store.sid_for("late@example.org")
        manage = make_token(SECRET, MANAGE, sid)
        assert client.get("/confirm", params={"t": token[:-2] + "xx"}).status_code == 400
        assert client.post("/confirm", data={"t": manage}).status_code == 400  # a MANAGE token cannot confirm
        assert client.post("/unsubscribe", data={"t": token}).status_code == 400  # nor a CONFIRM one unsubscribe
        forged = make_token(b"another-secret-0123456789abcdefghijkl", MANAGE, sid)
        assert client.post("/unsubscribe", params={"t": forged}).status_code == 400
        assert client.get("/preferences").status_code == 400
        site.clock.advance(hours=48.5)
        expired = client.post("/confirm", data={"t": token})
        assert expired.status_code == 410 and "expired" in expired.text
        site.clock.advance(hours=-48.5)
        assert client.post("/unsubscribe", data={"t": manage}).status_code == 200
        replayed = client.post("/confirm", data={"t": token})
        assert replayed.status_code == 410
    assert site.state("late@example.org") == "unsubscribed"


def test_a_token_acts_on_its_own_reader_only(site: Site) -> None:
    """One reader's unsubscribe token leaves every other reader subscribed."""
    with site.store() as store:
        for who in ("a", "b", "c"):
            store.add(f"{who}@example.org")
        sid = store.sid_for("b@example.org")
    with site.client() as client:
        token = make_token(SECRET, MANAGE, sid)
        client.post("/unsubscribe", params={"t": token}, data={"List-Unsubscribe": "One-Click"})
    assert [site.state(f"{w}@example.org") for w in "abc"] == ["confirmed", "unsubscribed", "confirmed"]


def test_preferences_change_topics(site: Site) -> None:
    """GET shows the reader's topics ticked; POST saves the ticked ones (none or all: every article)."""
    with site.store() as store:
        store.add("picky@example.org")
        token = make_token(SECRET, MANAGE, store.sid_for("picky@example.org"))
    with site.client() as client:
        page = client.get("/preferences", params={"t": token})
        assert page.text.count("checked") == 2  # every article: both offered topics ticked
        saved = client.post("/preferences", params={"t": token}, data={"topic": ["Markets", "Unknown"]})
        assert saved.status_code == 200 and "Markets" in saved.text
        with site.store() as store:
            assert store.get("picky@example.org").topics == ("Markets",)  # type: ignore[union-attr]
        client.post("/preferences", data={"t": token})
    with site.store() as store:
        assert store.get("picky@example.org").topics is None  # type: ignore[union-attr]


def test_concurrent_confirm_and_unsubscribe_end_unsubscribed(site: Site) -> None:
    """A confirm racing an unsubscribe on one row: whichever lands first, the row ends unsubscribed."""
    for i in range(8):
        address = f"race{i}@example.org"
        with site.store() as store:
            requested = store.request(address, None, source="form", ip=None)
        confirm = make_token(SECRET, CONFIRM, requested.subscriber.sid, requested.nonce, now=site.clock())
        manage = make_token(SECRET, MANAGE, requested.subscriber.sid)
        statuses: list[int] = []
        barrier = threading.Barrier(2)

        def post(path: str, token: str, barrier: threading.Barrier = barrier, statuses: list[int] = statuses) -> None:
            with site.client() as client:
                barrier.wait()
                statuses.append(client.post(path, data={"t": token}).status_code)

        threads = [threading.Thread(target=post, args=a) for a in (("/confirm", confirm), ("/unsubscribe", manage))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert site.state(address) == "unsubscribed", statuses
        assert set(statuses) <= {200, 410}


def test_no_cookies_and_protective_headers_on_every_page(site: Site) -> None:
    """No page sets a cookie; each forbids Referer (the token is in the URL), caching and framing."""
    with site.client() as client:
        answers = [client.get("/subscribe"), subscribe(client, "h@example.org"), client.get("/nowhere"),
                   client.get("/healthz"), client.get("/confirm", params={"t": "x"})]
    assert [a.status_code for a in answers] == [200, 200, 404, 200, 400]
    assert answers[3].text == "ok\n"
    for answer in answers:
        assert "set-cookie" not in answer.headers
        assert answer.headers["referrer-policy"] == "no-referrer" and answer.headers["cache-control"] == "no-store"
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
