"""The scheduled path, driven at chosen instants: no gap, no overlap, once per tick, across DST."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sitegen import settings_for, write_article, write_config

from digest.cron import cron_trigger
from digest.pipeline import build as pipeline
from digest.schedule.runner import run_tick
from digest.schedule.ticks import last_tick, next_ticks
from digest.state.engine import open_state
from digest.state.schedule import ScheduleState

SH = ZoneInfo("Asia/Shanghai")
MONDAY = datetime(2025, 7, 7, 8, 0, tzinfo=SH)  # a Monday


def carried_by_issue(root: Path) -> dict[str, set[str]]:
    """issue id → paths of the articles its manifest lists."""
    out: dict[str, set[str]] = {}
    for manifest in sorted((root / "issues").glob("*.json")):
        data = json.loads(manifest.read_text(encoding="utf-8"))
        out[data["issue_id"]] = {a["path"] for a in data["articles"] + data.get("more", [])}
    return out


def daily_articles(root: Path, start: datetime, days: int) -> set[str]:
    paths = set()
    for i in range(days):
        when = start + timedelta(days=i, hours=3)
        write_article(root, f"day-{i:02d}", when)
        paths.add(f"posts/day-{i:02d}.md")
    return paths


def test_four_weekly_ticks_have_no_gap_and_no_overlap(site: Path) -> None:
    """Four Monday ticks carry every article dated in their weeks exactly once."""
    start = MONDAY - timedelta(days=7)
    expected = daily_articles(site, start, 28)
    settings = settings_for(site)
    outcomes = [run_tick(settings, MONDAY + timedelta(days=7 * w, minutes=5)) for w in range(4)]
    assert [o.outcome for o in outcomes] == ["written"] * 4
    assert [o.number for o in outcomes] == [1, 2, 3, 4]
    issues = carried_by_issue(site)
    assert len(issues) == 4
    seen: set[str] = set()
    for paths in issues.values():
        assert not (seen & paths), "an article was carried twice"
        seen |= paths
    assert seen == expected
    # Stated ranges chain: each issue starts at the previous tick.
    for prev, cur in pairwise(outcomes):
        assert cur.since == prev.tick


def test_backdated_article_is_carried_by_the_next_issue_only(site: Path) -> None:
    """An article back-dated into a week already sent goes out with the next issue, and never again."""
    daily_articles(site, MONDAY - timedelta(days=7), 14)
    settings = settings_for(site)
    run_tick(settings, MONDAY + timedelta(minutes=1))
    run_tick(settings, MONDAY + timedelta(days=7, minutes=1))
    write_article(site, "late", MONDAY - timedelta(days=3))  # falls in week 1, added after week 2 went out
    third = run_tick(settings, MONDAY + timedelta(days=14, minutes=1))
    fourth = run_tick(settings, MONDAY + timedelta(days=21, minutes=1))
    issues = carried_by_issue(site)
    holders = [iid for iid, paths in issues.items() if "posts/late.md" in paths]
    assert holders == [third.issue_id]
    assert fourth.outcome == "skipped-empty"


def test_downtime_over_two_ticks_gives_one_catch_up_issue(site: Path) -> None:
    """Missing two Mondays, the next run builds a single issue covering the whole gap."""
    expected = daily_articles(site, MONDAY - timedelta(days=7), 28)
    settings = settings_for(site)
    first = run_tick(settings, MONDAY + timedelta(minutes=1))
    catch_up = run_tick(settings, MONDAY + timedelta(days=21, hours=2))
    assert catch_up.outcome == "written" and catch_up.number == 2
    assert catch_up.since == first.tick
    issues = carried_by_issue(site)
    assert len(issues) == 2
    assert set().union(*issues.values()) == expected


def test_same_tick_twice_builds_one_issue(site: Path) -> None:
    """A second run inside the same tick does nothing."""
    daily_articles(site, MONDAY - timedelta(days=7), 7)
    settings = settings_for(site)
    assert run_tick(settings, MONDAY + timedelta(minutes=1)).outcome == "written"
    assert run_tick(settings, MONDAY + timedelta(hours=5)).outcome == "already-done"
    assert len(carried_by_issue(site)) == 1


def test_late_tick_is_refused_and_its_articles_wait(site: Path) -> None:
    """A tick found more than max_lateness late sends nothing; the next tick carries its articles."""
    paths = daily_articles(site, MONDAY - timedelta(days=7), 7)
    settings = settings_for(site)
    late = run_tick(settings, MONDAY + timedelta(hours=30))
    assert late.outcome == "refused-late"
    assert carried_by_issue(site) == {}
    nxt = run_tick(settings, MONDAY + timedelta(days=7, minutes=1))
    assert nxt.outcome == "written"
    assert carried_by_issue(site)[nxt.issue_id] >= paths


def test_force_builds_a_late_tick(site: Path) -> None:
    """--force builds a tick that would otherwise be refused as late."""
    daily_articles(site, MONDAY - timedelta(days=7), 7)
    settings = settings_for(site)
    assert run_tick(settings, MONDAY + timedelta(hours=30), force=True).outcome == "written"


def test_empty_week_is_recorded_as_skipped(site: Path) -> None:
    """No new articles: nothing is written, and the outcome says skipped-empty, not a failure."""
    settings = settings_for(site)
    outcome = run_tick(settings, MONDAY + timedelta(minutes=1))
    assert outcome.outcome == "skipped-empty"
    with ScheduleState(open_state(settings), clock=time.time) as state:
        assert state.recent()[0]["outcome"] == "skipped-empty"
    assert not (site / "issues").exists() or not list((site / "issues").glob("*.html"))


@pytest.mark.parametrize(
    ("zone", "mondays"),
    [
        ("Europe/Berlin", ["2025-03-24", "2025-03-31", "2025-10-20", "2025-10-27"]),
        ("America/New_York", ["2025-03-03", "2025-03-10", "2025-10-27", "2025-11-03"]),
    ],
)
def test_monday_eight_am_fires_once_at_local_eight_across_dst(tmp_path: Path, zone: str, mondays: list[str]) -> None:
    """Around both DST changes a Monday 08:00 tick is at 08:00 local, once."""
    tz = ZoneInfo(zone)
    write_config(tmp_path, site={"timezone": zone})
    settings = settings_for(tmp_path)
    trigger = cron_trigger("0 8 * * mon", tz)
    for day in mondays:
        monday = datetime.fromisoformat(day).replace(tzinfo=tz)
        write_article(tmp_path, f"a-{day}", monday - timedelta(days=2))
        ticks = next_ticks(trigger, monday - timedelta(days=1), 1)
        assert ticks[0].astimezone(tz).strftime("%Y-%m-%d %H:%M") == f"{day} 08:00"
        first = run_tick(settings, monday.replace(hour=8, minute=1))
        again = run_tick(settings, monday.replace(hour=9, minute=30))
        assert first.outcome == "written", first.line()
        assert first.tick.astimezone(tz).strftime("%H:%M") == "08:00"
        assert again.outcome == "already-done"
    assert len(carried_by_issue(tmp_path)) == len(mondays)


def test_repeated_hour_tick_fires_once_on_fall_back_sunday(tmp_path: Path) -> None:
    """Sunday 02:30 in Berlin on 2025-10-26 (the hour repeats) is one tick, listed and fired once."""
    tz = ZoneInfo("Europe/Berlin")
    write_config(tmp_path, site={"timezone": "Europe/Berlin"}, schedule={"cron": "30 2 * * sun"})
    settings = settings_for(tmp_path)
    trigger = cron_trigger("30 2 * * sun", tz)
    listed = next_ticks(trigger, datetime(2025, 10, 20, tzinfo=tz), 3)
    assert [t.strftime("%Y-%m-%d") for t in listed] == ["2025-10-26", "2025-11-02", "2025-11-09"]
    write_article(tmp_path, "sat", datetime(2025, 10, 25, 12, tzinfo=tz))
    first_pass = datetime.fromisoformat("2025-10-26T02:35:00+02:00")
    second_pass = datetime.fromisoformat("2025-10-26T02:35:00+01:00")  # an hour later, same wall time
    assert run_tick(settings, first_pass).outcome == "written"
    assert run_tick(settings, second_pass).outcome == "already-done"


def test_skipped_hour_tick_fires_once_on_spring_forward_sunday(tmp_path: Path) -> None:
    """Sunday 02:30 in Berlin on 2025-03-30 (the hour is skipped) still fires, once."""
    tz = ZoneInfo("Europe/Berlin")
    trigger = cron_trigger("30 2 * * sun", tz)
    listed = next_ticks(trigger, datetime(2025, 3, 24, tzinfo=tz), 2)
    assert [t.strftime("%Y-%m-%d") for t in listed] == ["2025-03-30", "2025-04-06"]
    tick = last_tick(trigger, datetime(2025, 3, 30, 4, 0, tzinfo=tz))
    assert tick is not None and tick.strftime("%Y-%m-%d") == "2025-03-30"


def _run_once(root: Path, at: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "digest", "schedule", "--run-once", "--at", at, "--config", str(root / "config.yaml")],
        cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def test_two_concurrent_run_once_processes_build_one_issue(site: Path) -> None:
    """Two `--run-once` started together against the same state give exactly one issue; both exit 0."""
    daily_articles(site, MONDAY - timedelta(days=7), 7)
    at = (MONDAY + timedelta(minutes=2)).isoformat()
    procs = [_run_once(site, at) for _ in range(2)]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    assert len(carried_by_issue(site)) == 1


def test_run_once_on_two_consecutive_mondays_writes_adjoining_issues(site: Path) -> None:
    """`digest schedule --run-once --at` on two Mondays: two issues, no overlap, no gap."""
    expected = daily_articles(site, MONDAY - timedelta(days=7), 14)
    for week in range(2):
        proc = _run_once(site, (MONDAY + timedelta(days=7 * week, minutes=1)).isoformat())
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert "written" in out
    issues = list(carried_by_issue(site).values())
    assert len(issues) == 2 and not (issues[0] & issues[1])
    assert issues[0] | issues[1] == expected


def test_rebuilding_an_issue_from_the_same_files_is_byte_identical(tmp_path: Path) -> None:
    """Two schedulers on copies of the same files build byte-identical HTML and text."""
    outputs = []
    for name in ("a", "b"):
        root = tmp_path / name
        write_config(root)
        daily_articles(root, MONDAY - timedelta(days=7), 7)
        outcome = run_tick(settings_for(root), MONDAY + timedelta(minutes=1))
        outputs.append(
            [(root / "issues" / f"{outcome.issue_id}.{ext}").read_bytes() for ext in ("html", "txt")]
        )
    assert outputs[0] == outputs[1]


def test_empty_week_with_when_empty_send_writes_a_short_note(tmp_path: Path) -> None:
    """`schedule.when_empty: send` writes a numbered issue that says nothing is new."""
    write_config(tmp_path, schedule={"when_empty": "send"})
    outcome = run_tick(settings_for(tmp_path), MONDAY + timedelta(minutes=1))
    assert outcome.outcome == "written" and outcome.articles == 0
    text = (tmp_path / "issues" / f"{outcome.issue_id}.txt").read_text(encoding="utf-8")
    assert "Nothing new this week" in text


def test_lastmod_after_carrying_lists_the_article_as_updated_not_again(tmp_path: Path) -> None:
    """With show_updates, an article edited after it went out is listed under Updated, not carried twice."""
    write_config(tmp_path, schedule={"show_updates": True})
    settings = settings_for(tmp_path)
    write_article(tmp_path, "edited", MONDAY - timedelta(days=2), title="The edited story")
    run_tick(settings, MONDAY + timedelta(minutes=1))
    write_article(tmp_path, "edited", MONDAY - timedelta(days=2), title="The edited story",
                  lastmod=(MONDAY + timedelta(days=2)).isoformat())
    write_article(tmp_path, "fresh", MONDAY + timedelta(days=3))
    second = run_tick(settings, MONDAY + timedelta(days=7, minutes=1))
    assert carried_by_issue(tmp_path)[second.issue_id] == {"posts/fresh.md"}
    text = (tmp_path / "issues" / f"{second.issue_id}.txt").read_text(encoding="utf-8")
    assert "Updated since we wrote about them" in text and "The edited story" in text


@pytest.mark.parametrize("between", ["nothing", "a plain build", "a scan of the whole folder"])
def test_an_update_is_found_when_the_carried_article_is_far_before_the_window(tmp_path: Path, between: str) -> None:
    """show_updates finds the lastmod of an article carried long before the selection window, whether its
    file is read anew, was left as a date-only row by a build of another range, or is cached in full."""
    write_config(tmp_path, schedule={"show_updates": True, "lookback_days": 1})
    settings = settings_for(tmp_path)
    write_article(tmp_path, "edited", MONDAY - timedelta(days=5), title="The edited story")
    run_tick(settings, MONDAY + timedelta(minutes=1))
    write_article(tmp_path, "edited", MONDAY - timedelta(days=5), title="The edited story",
                  lastmod=(MONDAY + timedelta(days=2)).isoformat())
    write_article(tmp_path, "fresh", MONDAY + timedelta(days=3))
    if between == "a plain build":
        pipeline.scan_content(settings, since=MONDAY + timedelta(days=1), until=MONDAY + timedelta(days=7))
    elif between == "a scan of the whole folder":
        pipeline.scan_content(settings)
    second = run_tick(settings, MONDAY + timedelta(days=7, minutes=1))  # selects from the day before MONDAY on
    assert carried_by_issue(tmp_path)[second.issue_id] == {"posts/fresh.md"}
    text = (tmp_path / "issues" / f"{second.issue_id}.txt").read_text(encoding="utf-8")
    assert "Updated since we wrote about them" in text and "The edited story" in text
