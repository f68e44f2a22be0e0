"""A reader's whole life in Debian's Chromium, in both languages: subscribe, confirmation mail, confirm,
preferences, unsubscribe, the state database checked after each step; the English walk by keyboard only."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from smtp_servers import Inbox, serve
from web_servers import Clock, confirm_link, running_app, site_settings, wait_for_mail

from digest.config import Settings
from digest.state.subscribers import SubscriberStore

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync"]
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")

WORDS = {
    "en": {"email": "Email address", "check": "Check your inbox", "confirm": "Confirm my subscription",
           "confirmed": "You are subscribed", "manage": "Change my topics", "save": "Save my choices",
           "saved": "You will get articles about: Markets.", "leave": "Unsubscribe instead",
           "unsubscribe": "Unsubscribe", "left": "You are unsubscribed"},
    "zh-CN": {"email": "电子邮件地址", "check": "请查收邮件", "confirm": "确认订阅", "confirmed": "订阅成功",
              "manage": "更改主题", "save": "保存选择", "saved": "您将收到以下主题的文章：Markets。",
              "leave": "改为退订", "unsubscribe": "退订", "left": "已退订"},
}

# WCAG contrast of each visible text node against the page's background (body's), with the size rule.
CONTRAST_JS = r"""
() => {
  const rgb = (c) => (c.match(/[\d.]+/g) || [0, 0, 0]).slice(0, 3).map(Number);
  const lum = (c) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
                       const [r, g, b] = rgb(c); return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const bgOf = (el) => { for (let e = el; e; e = e.parentElement) { const b = getComputedStyle(e).backgroundColor;
                         if (!b.startsWith('rgba(0, 0, 0, 0')) return b; } return 'rgb(255,255,255)'; };
  const out = [];
  for (const el of document.querySelectorAll('h1, p, label, legend, a, button')) {
    if (!el.checkVisibility() || !el.textContent.trim() || el.closest('.hp')) continue;
    const s = getComputedStyle(el); const [a, b] = [lum(s.color), lum(bgOf(el))].sort((x, y) => y - x);
    const large = parseFloat(s.fontSize) >= 24 || (parseInt(s.fontWeight) >= 700 && parseFloat(s.fontSize) >= 18.66);
    out.push({text: el.textContent.trim().slice(0, 40), ratio: (a + 0.05) / (b + 0.05), need: large ? 3 : 4.5});
  }
  return out;
}
"""


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (pip install -e '.[test]')")
    with sync_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=str(CHROMIUM), headless=True,
            args=LAUNCH_ARGS, viewport={"width": 375, "height": 740}, is_mobile=True,
        )
        yield context
        context.close()


def check_page(page: Any) -> None:
    """Readable on a phone (no sideways scroll) and every text's contrast enough, light and dark."""
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), page.url
        low = [c for c in page.evaluate(CONTRAST_JS) if c["ratio"] < c["need"]]
        assert not low, (scheme, low)
    page.emulate_media(color_scheme="light")


def row(settings: Settings, clock: Clock, address: str) -> tuple[str | None, tuple[str, ...] | None, list[str]]:
    with SubscriberStore.open(settings, clock=clock) as store:
        sub = store.get(address)
        states = [str(e["to_state"]) for e in store.events(address)]
    return (sub.state if sub else None), (sub.topics if sub else None), states


def focused_outline(page: Any) -> str:
    return str(page.evaluate("getComputedStyle(document.activeElement).outlineStyle"))


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_a_reader_subscribes_confirms_chooses_topics_and_leaves(browser: Any, tmp_path: Path, language: str) -> None:
    """The whole life of a reader through the pages, the database showing each step; no cookie is ever set."""
    words, address = WORDS[language], f"walker-{language.lower()}@example.org"
    keyboard = language == "en"
    inbox = Inbox()
    with serve(inbox) as smtp_port:
        settings = site_settings(tmp_path, smtp_port, language=language)
        clock = Clock()
        with running_app(settings, clock) as url:
            page = browser.new_page()
            page.goto(f"{url}/subscribe")
            assert page.locator("html").get_attribute("lang") == language
            check_page(page)
            if keyboard:  # Tab order: email, AI, Markets, the button (the honeypot is out of it)
                page.keyboard.press("Tab")
                assert page.evaluate("document.activeElement.id") == "email" and focused_outline(page) != "none"
                page.keyboard.type(address)
                page.keyboard.press("Tab")
                page.keyboard.press("Space")
                page.keyboard.press("Tab")
                page.keyboard.press("Tab")
                assert page.evaluate("document.activeElement.tagName") == "BUTTON" and focused_outline(page) != "none"
                page.keyboard.press("Enter")
            else:
                page.get_by_label(words["email"]).fill(address)
                page.get_by_label("AI").check()
                page.get_by_role("button").click()
            page.wait_for_load_state()
            assert words["check"] in page.locator("h1").inner_text()
            assert row(settings, clock, address) == ("pending", ("AI",), ["pending"])

            wait_for_mail(inbox, 1)
            link = confirm_link(inbox, address)
            page.goto(link)
            check_page(page)
            assert row(settings, clock, address)[0] == "pending"  # opening the link changes nothing
            if keyboard:
                page.keyboard.press("Tab")
                page.keyboard.press("Enter")
            else:
                page.get_by_role("button", name=words["confirm"]).click()
            page.wait_for_load_state()
            assert words["confirmed"] in page.locator("h1").inner_text()
            assert row(settings, clock, address) == ("confirmed", ("AI",), ["pending", "confirmed"])

            page.get_by_role("link", name=words["manage"]).click()
            page.wait_for_load_state()
            check_page(page)
            assert page.get_by_label("AI").is_checked() and not page.get_by_label("Markets").is_checked()
            page.get_by_label("AI").uncheck()
            page.get_by_label("Markets").check()
            page.get_by_role("button", name=words["save"]).click()
            page.wait_for_load_state()
            assert words["saved"] in page.content()
            assert row(settings, clock, address) == ("confirmed", ("Markets",), ["pending", "confirmed", "confirmed"])

            page.get_by_role("link", name=words["leave"]).click()
            page.wait_for_load_state()
            check_page(page)
            assert row(settings, clock, address)[0] == "confirmed"
            page.get_by_role("button", name=words["unsubscribe"]).click()
            page.wait_for_load_state()
            assert words["left"] in page.locator("h1").inner_text()
            assert row(settings, clock, address) == ("unsubscribed", ("Markets",),
                                                     ["pending", "confirmed", "confirmed", "unsubscribed"])
            assert browser.cookies() == []
            assert re.search(r"/confirm\?t=[A-Za-z0-9_.-]+", link) and address not in link
            page.close()
