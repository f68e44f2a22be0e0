"""`digest serve`'s app: subscribe, confirm, unsubscribe, preferences and a health check (Starlette).

What the routes promise:
- No enumeration: POST /subscribe answers the same page whether the address is new, pending,
  confirmed or gone; the mail (if any) is sent after the answer, so its time tells nothing either.
- A GET never changes anything (mail scanners follow links): /confirm and /unsubscribe show one
  button, and only its POST acts. POST /unsubscribe with RFC 8058's `List-Unsubscribe=One-Click`
  body (a mailbox provider's one-click, no cookie, no page) unsubscribes at once and answers 200.
- Links name a reader only by a signed id (tokens.py): a forged or cut token gets a 400 page,
  an expired one or one a later change made stale (a confirm link after an unsubscribe) a 410.
- No cookies; bodies over 16 KB get 413 (guard.py); a line break or control character in a
  field is refused; sign-ups are limited per IP and per address; a filled honeypot gets the
  usual answer and nothing else.
Time is the `clock` argument (unix seconds); the secret and the mail sender are arguments too.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from digest.addresses import check_address
from digest.config import Settings
from digest.delivery.confirmation import SendMail, confirmation_message, envelope_sender, smtp_sender
from digest.errors import DigestError
from digest.tokens import CONFIRM, MANAGE, TokenError, make_token, read_token
from digest.web.guard import Guard
from digest.web.labels import language_of
from digest.web.pages import Labels, page_environment, render_page
from digest.web.ratelimit import RateLimiter
from digest.web.store_access import PageStore

log = logging.getLogger("digest.web")
ONE_CLICK = "One-Click"  # RFC 8058: the body is List-Unsubscribe=One-Click
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class Pages:
    """The routes, sharing the settings, the secret, the clock, the limiters and the store."""

    def __init__(self, settings: Settings, secret: bytes, clock: Callable[[], float], send_mail: SendMail) -> None:
        self.settings = settings
        self.secret = secret
        self.clock = clock
        self.send_mail = send_mail
        self.env = page_environment(settings)
        sub = settings.subscribe
        self.default_language = language_of(sub.language, settings.site.language)
        self.topics = list(sub.topics)
        self.per_ip = RateLimiter(sub.rate_per_ip, 3600.0, clock=clock)
        self.per_address = RateLimiter(sub.rate_per_address, 86400.0, clock=clock)
        self.store = PageStore(settings, clock, sub.rate_per_address)

    # -- helpers ---------------------------------------------------------------------------------

    def language(self, request: Request, form: FormData | None = None) -> str:
        asked = form.get("lang") if form is not None else None
        asked = asked if isinstance(asked, str) else request.query_params.get("lang")
        return language_of(asked, self.default_language)

    def href(self, path: str, language: str, token: str | None = None) -> str:
        """A link to another page, relative (so it works under any prefix the proxy maps)."""
        query = [f"t={quote(token)}"] if token else []
        if language != self.default_language:
            query.append(f"lang={quote(language)}")
        return path + ("?" + "&".join(query) if query else "")

    def page(self, name: str, language: str, status: int = 200, **context: Any) -> HTMLResponse:
        return HTMLResponse(render_page(self.env, self.settings, name, language, context), status_code=status)

    def message(self, language: str, key: str, status: int = 200, **context: Any) -> HTMLResponse:
        """A page of one title and one paragraph: `<key>_title` and `<key>_body` of the labels."""
        t = Labels(language, self.settings.site.title)
        hours = f"{self.settings.subscribe.confirm_ttl_hours:g}"
        lines = [t(f"{key}_body", hours=hours, **context.pop("values", {})), *context.pop("extra", [])]
        context.setdefault("links", [])
        context.setdefault("role", "status" if status < 400 else "alert")
        return self.page("message.html.j2", language, status, title=t(f"{key}_title"), lines=lines, **context)

    def token_error(self, language: str, exc: TokenError) -> HTMLResponse:
        return self.message(language, "expired" if exc.reason == "expired" else "invalid",
                            410 if exc.reason == "expired" else 400)

    def chosen_topics(self, form: FormData) -> tuple[str, ...] | None:
        """The ticked topics the config offers (others ignored); None (every article) for none or all."""
        ticked = {v for v in form.getlist("topic") if isinstance(v, str)}
        chosen = tuple(t for t in self.topics if t in ticked)
        return None if not chosen or len(chosen) == len(self.topics) else chosen

    @staticmethod
    async def read_form(request: Request) -> FormData:
        return await request.form(max_files=0, max_fields=100)

    @staticmethod
    def token_of(request: Request, form: FormData | None = None) -> str:
        value = form.get("t") if form is not None else None
        return value if isinstance(value, str) and value else request.query_params.get("t", "")

    def manage_sid(self, token: str) -> str:
        return read_token(self.secret, MANAGE, token, now=self.clock())[0]

    # -- routes ----------------------------------------------------------------------------------

    async def subscribe_form(self, request: Request) -> Response:
        language = self.language(request)
        return self.page("subscribe.html.j2", language, title=self.title(language, "subscribe_title"),
                         topics=self.topics, chosen=(), address="", error="")

    def title(self, language: str, key: str, **values: str) -> str:
        return Labels(language, self.settings.site.title)(key, **values)

    async def subscribe(self, request: Request) -> Response:
        form = await self.read_form(request)
        language = self.language(request, form)
        fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
        email = fields.get("email", "")
        if any(_CONTROL.search(v) for _, v in form.multi_items() if isinstance(v, str)):
            return self.retry(language, email="", error_key="bad_input")
        ip = request.client.host if request.client else "unknown"
        if not self.per_ip.hit(ip):
            return self.message(language, "too_many", 429)
        address, reason = check_address(email)
        if address is None:
            return self.retry(language, email=email, error_key="bad_address", reason=reason)
        answer = self.message(language, "check", values={"address": address})
        if fields.get("website"):  # the honeypot: only a bot fills a field it cannot see
            return answer
        if not self.per_address.hit(address.lower()):
            return answer
        topics = self.chosen_topics(form)
        consent_ip = ip if self.settings.subscribe.record_ip else None
        requested = await self.store.run(lambda s: s.request(address, topics, source="form", ip=consent_ip))
        if requested.send_mail:
            token = make_token(self.secret, CONFIRM, requested.subscriber.sid, requested.nonce, now=self.clock())
            base = (self.settings.subscribe.public_url or str(request.base_url)).rstrip("/")
            url = f"{base}/{self.href('confirm', language, token)}"
            data = confirmation_message(
                self.settings, address=address, confirm_url=url, language=language,
                date=datetime.fromtimestamp(self.clock(), timezone.utc),
            )
            sender = envelope_sender(self.settings, requested.subscriber.sid)
            answer.background = BackgroundTask(self.mail, data, sender, address)
        return answer

    def retry(self, language: str, *, email: str, error_key: str, **values: str) -> HTMLResponse:
        error = Labels(language, self.settings.site.title)(error_key, **values)
        return self.page("subscribe.html.j2", language, 400, title=self.title(language, "subscribe_title"),
                         topics=self.topics, chosen=(), address=email, error=error)

    def mail(self, data: bytes, sender: str, recipient: str) -> None:
        """Send the confirmation mail (after the answer went out); a failure is logged, never shown."""
        try:
            self.send_mail(data, sender, recipient)
        except (DigestError, OSError) as exc:
            log.warning("confirmation mail not sent: %s", getattr(exc, "message", None) or exc)

    async def confirm_page(self, request: Request) -> Response:
        language = self.language(request)
        token = self.token_of(request)
        try:
            self.read_confirm(token)
        except TokenError as exc:
            return self.token_error(language, exc)
        return self.page("confirm.html.j2", language, title=self.title(language, "confirm_title"),
                         action=self.href("confirm", language, token), token=token)

    def read_confirm(self, token: str) -> tuple[str, str]:
        ttl = self.settings.subscribe.confirm_ttl_hours * 3600.0
        return read_token(self.secret, CONFIRM, token, now=self.clock(), max_age=ttl)

    async def confirm(self, request: Request) -> Response:
        form = await self.read_form(request)
        language = self.language(request, form)
        try:
            sid, nonce = self.read_confirm(self.token_of(request, form))
        except TokenError as exc:
            return self.token_error(language, exc)
        result = await self.store.run(lambda s: s.confirm(sid, nonce))
        if result in ("confirmed", "already"):
            manage = make_token(self.secret, MANAGE, sid)
            links = [(self.href("preferences", language, manage), self.title(language, "manage_link"))]
            key = "confirmed" if result == "confirmed" else "already_confirmed"
            return self.message(language, key, links=links if self.topics else [])
        return self.message(language, "stale", 410, links=[(self.href("subscribe", language),
                                                            self.title(language, "subscribe_link"))])

    async def unsubscribe_page(self, request: Request) -> Response:
        language = self.language(request)
        token = self.token_of(request)
        try:
            self.manage_sid(token)
        except TokenError as exc:
            return self.token_error(language, exc)
        return self.page("unsubscribe.html.j2", language, title=self.title(language, "unsubscribe_title"),
                         action=self.href("unsubscribe", language, token), token=token,
                         has_topics=bool(self.topics), preferences=self.href("preferences", language, token))

    async def unsubscribe(self, request: Request) -> Response:
        form = await self.read_form(request)
        language = self.language(request, form)
        try:
            sid = self.manage_sid(self.token_of(request, form))
        except TokenError as exc:
            return self.token_error(language, exc)
        source = "one-click" if form.get("List-Unsubscribe") == ONE_CLICK else "form"
        result = await self.store.unsubscribe(sid, source=source)  # group-committed: store_access.py
        if result == "unknown":
            return self.message(language, "stale", 410)
        links = [(self.href("subscribe", language), self.title(language, "subscribe_link"))]
        key = "unsubscribed" if result == "unsubscribed" else "already_unsubscribed"
        return self.message(language, key, links=links)

    async def preferences(self, request: Request) -> Response:
        form = await self.read_form(request) if request.method == "POST" else None
        language = self.language(request, form)
        token = self.token_of(request, form)
        try:
            sid = self.manage_sid(token)
        except TokenError as exc:
            return self.token_error(language, exc)
        reader = await self.store.run(lambda s: s.by_sid(sid))
        if reader is None:
            return self.message(language, "stale", 410)
        subscribed = reader.state in ("pending", "confirmed")
        topics, saved = reader.topics, ""
        if form is not None and subscribed and self.topics:
            topics = self.chosen_topics(form)
            await self.store.run(lambda s: s.set_topics(sid, topics))
            saved = self.title(language, "saved_all") if topics is None else \
                self.title(language, "saved_some", topics=", ".join(topics))
        chosen = self.topics if topics is None else topics
        return self.page(
            "preferences.html.j2", language, title=self.title(language, "preferences_title"), saved=saved,
            subscribed=subscribed, topics=self.topics, chosen=chosen, token=token,
            action=self.href("preferences", language, token), unsubscribe=self.href("unsubscribe", language, token),
            subscribe=self.href("subscribe", language),
        )

    async def healthz(self, request: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def not_found(self, request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 404
        key = "not_found" if status in (404, 405) else "invalid"
        return self.message(self.language(request), key, status)

    async def failed(self, request: Request, exc: Exception) -> Response:
        log.error("digest serve: %s", getattr(exc, "message", None) or exc)
        return self.message(self.language(request), "unavailable", 503)


def create_app(
    settings: Settings, *, secret: bytes, clock: Callable[[], float], send_mail: SendMail | None = None
) -> Starlette:
    """The ASGI app. `clock` gives unix seconds; `send_mail(data, envelope_sender, recipient)` sends the
    confirmation mail (default: through settings.smtp, with no password)."""
    if not secret:
        raise DigestError("digest serve needs a secret to sign readers' links")
    pages = Pages(settings, secret, clock, send_mail or smtp_sender(settings.smtp, None))
    routes = [
        Route("/subscribe", pages.subscribe_form, methods=["GET"]),
        Route("/subscribe", pages.subscribe, methods=["POST"]),
        Route("/confirm", pages.confirm_page, methods=["GET"]),
        Route("/confirm", pages.confirm, methods=["POST"]),
        Route("/unsubscribe", pages.unsubscribe_page, methods=["GET"]),
        Route("/unsubscribe", pages.unsubscribe, methods=["POST"]),
        Route("/preferences", pages.preferences, methods=["GET", "POST"]),
        Route("/healthz", pages.healthz, methods=["GET"]),
    ]

    def too_large() -> bytes:
        return bytes(pages.message(pages.default_language, "too_large", 413).body)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        pages.store.close()

    return Starlette(
        routes=routes,
        middleware=[Middleware(Guard, too_large=too_large)],
        exception_handlers={HTTPException: pages.not_found, DigestError: pages.failed},
        lifespan=lifespan,
    )
