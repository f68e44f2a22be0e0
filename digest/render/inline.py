"""CSS inlining: digest's own CSS (the template's `<style data-digest-inline>` block) into style attributes.

Only that block is inlined and then removed. MJML's own head styles and the dark-mode
`@media (prefers-color-scheme: dark)` rules stay in `<style>` tags untouched, the doctype,
`!important`, numeric `width` attributes and MSO conditional comments are kept as they are.

Why css-inline and not premailer (issue 3 asks for this to be written down). Measured with
`python benchmarks/render.py --premailer` on the 2-core development machine, median / min ms of
interleaved runs: inlining the 50-article week of tests/issue_factory.make_week at full size,
compiled (100-111 KB of HTML before inlining), and one render_issue call on that week with each
inliner, shortened to 100,000 bytes (two HTML passes with css-inline, three with premailer):

                 inlining, zh-CN   inlining, en    render_issue, zh-CN   render_issue, en
    premailer      74.6 / 69.9     82.4 / 73.7       184.7 / 164.1        248.2 / 192.4
    css-inline      3.0 /  3.0      3.2 /  3.0        23.6 /  19.6         23.9 /  21.5

Premailer inlines about 25 times slower, which makes the whole render eight to ten times slower,
and it cannot pass the checks as configured: lxml percent-encodes non-ASCII characters in every
href (`?l=é` becomes `?l=%C3%A9`), so a link no longer appears verbatim in both parts. It also
needs workarounds for the rest: it drops the doctype, inlines MJML's own head CSS unless each
tag is marked `data-premailer="ignore"`, and rewrites `width` attributes from CSS unless told
not to. css-inline (html5ever) keeps the document as it is and inlines only `extra_css`.
`inline_premailer` is kept so the measurement can be repeated.
"""

from __future__ import annotations

import logging
import re

import css_inline

_OWN_STYLE = re.compile(r"<style data-digest-inline>(.*?)</style>\s*", re.S)


def split_own_css(html: str) -> tuple[str, str]:
    """(html without digest's inline style blocks, their CSS joined)."""
    parts: list[str] = []

    def take(m: re.Match[str]) -> str:
        parts.append(m.group(1))
        return ""

    return _OWN_STYLE.sub(take, html), "\n".join(parts)


def inline_css(html: str) -> str:
    """Inline digest's own CSS with css-inline; everything else in the document is left alone."""
    rest, css = split_own_css(html)
    if not css.strip():
        return rest
    inliner = css_inline.CSSInliner(
        inline_style_tags=False,  # MJML's head CSS and the dark-mode rules stay where they are
        keep_style_tags=True,
        keep_link_tags=True,
        load_remote_stylesheets=False,
        extra_css=css,
        minify_css=True,  # `a:b;c:d` in each style attribute: bytes count against Gmail's limit
    )
    return inliner.inline(rest)


def inline_premailer(html: str) -> str:  # pragma: no cover - kept for benchmarks/render.py
    """The same with premailer, configured as well as it allows (see the module docstring)."""
    import premailer  # noqa: PLC0415 - a bench-only extra (pip install '.[bench]'), never imported by a build

    rest, css = split_own_css(html)
    doctype = rest[: rest.find(">") + 1] if rest.lower().startswith("<!doctype") else ""
    rest = rest.replace("<style", '<style data-premailer="ignore"')
    out: str = premailer.Premailer(
        rest,
        css_text=css,
        keep_style_tags=True,
        strip_important=False,
        remove_classes=False,
        disable_validation=True,
        allow_network=False,
        exclude_pseudoclasses=True,
        disable_basic_attributes=["width", "height", "align", "bgcolor", "valign"],
        cssutils_logging_level=logging.CRITICAL,
    ).transform()
    out = out.replace(' data-premailer="ignore"', "")
    # css_text comes back as a kept <style> tag of its own: drop it, it is inlined already.
    out = out.replace(f'<style type="text/css">{css}</style>', "")
    return doctype + out
