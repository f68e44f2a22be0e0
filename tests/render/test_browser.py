"""Checks 5 and 6 of issue 3 in headless Chromium: contrast in dark and light mode, no overflow at 320/375/600 px.

Chromium is Debian's /usr/bin/chromium (CI installs it through apt), driven by Playwright with
that executable: Playwright's own browser download is never used. Every request leaving the
page is answered locally (images with a generated PNG) so the run needs no network.
Screenshots at 375 and 640 px are written to tests/_artifacts/ for a person to look at.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest
from issue_factory import make_article, make_issue, make_settings

from digest.models import KeyFigure
from digest.render.issue import render_issue

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).parents[1] / "_artifacts"
LAUNCH_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)"
)

# Per visible text node: its colour, its effective background (background colours of its
# ancestors composited until opaque, else the canvas), its size and weight → WCAG contrast.
CONTRAST_JS = r"""
(canvas) => {
  const parse = (c) => {
    const m = c.match(/rgba?\(([^)]+)\)/);
    if (!m) return [0, 0, 0, 0];
    const p = m[1].split(/[ ,\/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const over = (top, under) => {
    const a = top[3] + under[3] * (1 - top[3]);
    if (a === 0) return [0, 0, 0, 0];
    return [0, 1, 2].map(i => (top[i] * top[3] + under[i] * under[3] * (1 - top[3])) / a).concat([a]);
  };
  const lum = (c) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
  };
  const background = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const bg = parse(getComputedStyle(e).backgroundColor);
      if (bg[3] > 0) layers.push(bg);
      if (bg[3] >= 1) break;
    }
    let c = canvas.concat([1]);
    for (let i = layers.length - 1; i >= 0; i--) c = over(layers[i], c);
    return c;
  };
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const text = n.nodeValue.trim();
    const el = n.parentElement;
    if (!text || !el) continue;
    if (!el.checkVisibility({opacityProperty: true, visibilityProperty: true})) continue;
    const r = el.getBoundingClientRect();
    if (r.width < 1 || r.height < 1) continue;
    const s = getComputedStyle(el);
    const bg = background(el);
    const fg = over(parse(s.color), bg);
    const [l1, l2] = [lum(fg), lum(bg)].sort((a, b) => b - a);
    const size = parseFloat(s.fontSize), bold = parseInt(s.fontWeight, 10) >= 700;
    const large = size >= 24 || (bold && size >= 18.66);
    out.push({text: text.slice(0, 60), tag: el.tagName, cls: el.className, color: s.color,
              bg: `rgb(${bg.slice(0, 3).map(Math.round).join(',')})`,
              ratio: (l1 + 0.05) / (l2 + 0.05), need: large ? 3 : 4.5});
  }
  return out;
}
"""


def _png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A solid-colour PNG, made here so the test needs no image files and no network."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


IMAGE = _png(1200, 630, (96, 125, 160))


def _issue_html(language: str) -> str:
    """An issue with everything a card can hold, a note, groups, a more list and a very long unbroken title."""
    issue = make_issue(6, note="A note from the editor, with a link-free paragraph.", more=3)
    long_one = make_article(1, zh=False)
    long_one.title = "Supercalifragilisticexpialidocious" * 4 + " and a URL-like word https://example.com/" + "x" * 80
    issue.articles.append(long_one)
    settings = make_settings(language=language, render={"group_by": "topic"})
    return render_issue(issue, settings).html


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """The built issues (en, zh-CN) as files, plus an iframe harness page per width."""
    folder = tmp_path_factory.mktemp("browser")
    for language in ("en", "zh-CN"):
        (folder / f"issue-{language}.html").write_text(_issue_html(language), encoding="utf-8")
        for width in (320, 375, 600):
            (folder / f"harness-{language}-{width}.html").write_text(
                f'<!DOCTYPE html><html><body style="margin:0">'
                f'<iframe id="f" src="issue-{language}.html" style="border:0;width:{width}px;height:20000px"></iframe>'
                f"</body></html>",
                encoding="utf-8",
            )
    return folder


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (pip install -e '.[test]')")
    sync_playwright = sync_api.sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")  # a fresh user-data-dir
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS,
        )

        def answer(route):
            if route.request.url.startswith("file://"):
                return route.continue_()
            if "/images/" in route.request.url:
                return route.fulfill(status=200, content_type="image/png", body=IMAGE)
            return route.abort()

        context.route("**/*", answer)
        yield context
        context.close()


def _open(browser, url: str, scheme: str, width: int = 640):
    page = browser.new_page()
    page.emulate_media(color_scheme=scheme)
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(url, wait_until="load")
    return page


@pytest.mark.parametrize("language", ["en", "zh-CN"])
@pytest.mark.parametrize("scheme", ["dark", "light"])
def test_text_contrast_meets_wcag(browser, pages, language, scheme):
    """5. With a forced color scheme, every visible text node meets WCAG contrast (4.5:1, 3:1 large),
    key figures included."""
    page = _open(browser, (pages / f"issue-{language}.html").as_uri(), scheme)
    try:
        canvas = [18, 18, 18] if scheme == "dark" else [255, 255, 255]
        nodes = page.evaluate(CONTRAST_JS, canvas)
        body_bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
    finally:
        page.close()
    assert body_bg == ("rgb(17, 24, 39)" if scheme == "dark" else "rgb(243, 244, 246)"), "dark-mode CSS not applied"
    assert len(nodes) > 40 and any("dg-kf-w" in n["cls"] for n in nodes)  # a value's runs (in .dg-kf-v)
    low = [n for n in nodes if n["ratio"] < n["need"]]
    assert not low, "\n".join(
        f"{n['ratio']:.2f} < {n['need']}: {n['text']!r} ({n['tag']}.{n['cls']}) {n['color']} on {n['bg']}" for n in low
    )


@pytest.mark.parametrize("language", ["en", "zh-CN"])
@pytest.mark.parametrize("width", [320, 375, 600])
def test_no_horizontal_overflow(browser, pages, language, width):
    """6. In an iframe 320, 375 or 600 px wide, nothing in the issue reaches past the right edge."""
    page = _open(browser, (pages / f"harness-{language}-{width}.html").as_uri(), "light", 800)
    try:
        frame = page.frame_locator("#f").owner.element_handle().content_frame()
        frame.wait_for_load_state("load")
        widths = frame.evaluate(
            """() => {
              const de = document.documentElement;
              let right = 0, who = '';
              for (const el of document.body.querySelectorAll('*')) {
                if (!el.checkVisibility()) continue;
                const r = el.getBoundingClientRect();
                if (r.width > 0 && r.right > right) { right = r.right; who = el.tagName + '.' + el.className; }
              }
              return {client: de.clientWidth, scroll: de.scrollWidth, right, who};
            }"""
        )
    finally:
        page.close()
    assert widths["client"] == width
    assert widths["scroll"] <= width, widths
    assert widths["right"] <= width + 0.5, widths


def test_screenshots_at_375_and_640(browser, pages):
    """6. Screenshots of both issues at 375 px (iframe harness) and 640 px are written to tests/_artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    written = []
    for language in ("en", "zh-CN"):
        for scheme in ("light", "dark"):
            page = _open(browser, (pages / f"harness-{language}-375.html").as_uri(), scheme, 400)
            frame_el = page.locator("#f")
            frame = frame_el.element_handle().content_frame()
            frame_el.evaluate("(el) => el.style.height = '100px'")  # so scrollHeight is the content's
            height = frame.evaluate("document.documentElement.scrollHeight")
            frame_el.evaluate(f"(el) => el.style.height = '{height}px'")
            path = ARTIFACTS / f"issue-{language}-375-{scheme}.png"
            frame_el.screenshot(path=str(path))
            page.close()
            written.append(path)
            page = _open(browser, (pages / f"issue-{language}.html").as_uri(), scheme, 640)
            path = ARTIFACTS / f"issue-{language}-640-{scheme}.png"
            page.screenshot(path=str(path), full_page=True)
            page.close()
            written.append(path)
    for path in written:
        print(f"screenshot: {path}")
        assert path.stat().st_size > 10_000


# --- issue 12, point 3: key figures that read on a phone -------------------------------------------

FIGURE_WIDTHS = (320, 375, 414, 600)
SWEEP = tuple(range(320, 601, 20))  # and every 20 px between them
PHONE_FIGURES = {
    "en": [
        KeyFigure("1.39×", "faster on the long-context benchmark than the previous release"),
        KeyFigure("$3.2 billion", "what the company raised in its second round this year"),
        KeyFigure("2,300亿元", "the fund's size in yuan"),
        KeyFigure("US$1,234,567,890.12bn", "a very long value with no space in it at all"),
        KeyFigure("$3.2 billion to $4.8 billion a year", "a long value with spaces of its own"),
        KeyFigure("50%", "short"),
    ],
    "zh-CN": [
        KeyFigure("2,300亿元", "国家集成电路产业投资基金三期的注册资本，超过前两期之和"),
        KeyFigure("1.39×", "长上下文基准测试中相对上一版本的速度提升"),
        KeyFigure("$3.2 billion", "本轮融资总额"),
        KeyFigure("12,345,678,901亿元人民币", "一个很长而且没有空格的数值"),
        KeyFigure("35%", "短"),
    ],
}

# Per key-figure value (.dg-kf-v): its lines, measured character by character with Range rects.
# A value is fine when it is one line, or when every new line starts right after a space of its own.
FIGURES_JS = r"""
() => {
  const out = [];
  for (const el of document.querySelectorAll('.dg-kf-v')) {
    const box = el.closest('.dg-kf').getBoundingClientRect();
    const own = el.getBoundingClientRect();
    const ctx = el.parentElement.querySelector('.dg-kf-c');
    const range = document.createRange();
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    let lines = 0, lastTop = null, spaceBefore = false, bad = [];
    let text = '';
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      for (let i = 0; i < n.nodeValue.length; i++) {
        const ch = n.nodeValue[i];
        text += ch;
        if (/\s/.test(ch)) { spaceBefore = true; continue; }
        range.setStart(n, i); range.setEnd(n, i + 1);
        const r = range.getClientRects()[0];
        if (!r) continue;
        if (lastTop === null || r.top > lastTop + 2) {
          lines += 1;
          if (lastTop !== null && !spaceBefore) bad.push(text.slice(0, -1) + ' / ' + ch);
          lastTop = r.top;
        }
        spaceBefore = false;
      }
    }
    range.selectNodeContents(el);
    const lineBoxes = new Set(Array.from(range.getClientRects()).map(r => Math.round(r.top))).size;
    out.push({text, lines, lineBoxes, bad, left: own.left, right: own.right, boxLeft: box.left,
              boxRight: box.right, boxWidth: box.width, ctxWidth: ctx ? ctx.getBoundingClientRect().width : 0,
              ctxText: ctx ? ctx.textContent.trim() : ''});
  }
  const de = document.documentElement;
  return {figures: out, client: de.clientWidth, scroll: de.scrollWidth,
          bg: getComputedStyle(document.body).backgroundColor};
}
"""


def _figures_issue_html(language: str) -> str:
    """An issue whose first card holds values that broke on a phone (`1.39×`, `2,300亿元`, `$3.2 billion`, long)."""
    issue = make_issue(3)
    issue.articles[0].key_figures = list(PHONE_FIGURES[language])
    settings = make_settings(language=language, summary={"key_figures_max": 6})
    return render_issue(issue, settings).html


@pytest.fixture(scope="module")
def figure_pages(tmp_path_factory):
    """The figures issue (en, zh-CN) as files, each with an iframe harness whose width the test sets."""
    folder = tmp_path_factory.mktemp("figures")
    for language in ("en", "zh-CN"):
        (folder / f"issue-{language}.html").write_text(_figures_issue_html(language), encoding="utf-8")
        (folder / f"harness-{language}.html").write_text(
            f'<!DOCTYPE html><html><body style="margin:0">'
            f'<iframe id="f" src="issue-{language}.html" style="border:0;width:320px;height:6000px"></iframe>'
            f"</body></html>",
            encoding="utf-8",
        )
    return folder


def _measure_figures(page, width: int) -> dict:
    frame_el = page.locator("#f")
    frame_el.evaluate(f"(el) => el.style.width = '{width}px'")
    frame = frame_el.element_handle().content_frame()
    frame.wait_for_function(f"document.documentElement.clientWidth === {width}")
    return frame.evaluate(FIGURES_JS)


@pytest.mark.parametrize("language", ["en", "zh-CN"])
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_key_figure_values_never_break_inside(browser, figure_pages, language, scheme):
    """Issue 12.3: at 320 to 600 px, light and dark, each key-figure value is one line (or breaks only at its
    own spaces), inside its box, its context not squeezed beside it, and nothing overflows."""
    page = _open(browser, (figure_pages / f"harness-{language}.html").as_uri(), scheme, 800)
    ARTIFACTS.mkdir(exist_ok=True)
    problems = []
    try:
        for width in sorted(set(FIGURE_WIDTHS + SWEEP)):
            got = _measure_figures(page, width)
            if scheme == "dark":
                assert got["bg"] == "rgb(17, 24, 39)", "dark-mode CSS not applied"
            assert [f["text"].strip() for f in got["figures"][: len(PHONE_FIGURES[language])]] == [
                f.value for f in PHONE_FIGURES[language]
            ]
            if got["scroll"] > width:
                problems.append(f"{width}px: the page is {got['scroll']} px wide")
            for f in got["figures"]:
                where = f"{width}px {f['text']!r}"
                if f["bad"]:
                    problems.append(f"{where}: breaks inside itself: {f['bad']}")
                if f["lines"] > 1 and " " not in f["text"].strip():
                    problems.append(f"{where}: {f['lines']} lines")
                if f["right"] > f["boxRight"] + 0.5 or f["left"] < f["boxLeft"] - 0.5:
                    problems.append(f"{where}: reaches outside its box ({f['left']:.0f}-{f['right']:.0f})")
                if f["ctxText"] and f["ctxWidth"] < min(0.5 * f["boxWidth"], 240):
                    problems.append(f"{where}: context squeezed to {f['ctxWidth']:.0f} px of {f['boxWidth']:.0f}")
            if width in FIGURE_WIDTHS and width < 600:
                page.locator("#f").element_handle().content_frame().locator(".dg-kf").first.screenshot(
                    path=str(ARTIFACTS / f"key-figures-{language}-{width}-{scheme}.png")
                )
    finally:
        page.close()
    assert not problems, "\n".join(problems)
