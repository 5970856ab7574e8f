"""Browser-facing hardening: security headers on every response, CORS for the widget's origins."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sourcing.app.errors import send_error
from sourcing.app.settings import Settings
from sourcing.domain.errors import UnknownHostError

# The demo page: its own inline <style>, /widget.js, and the widget's needs — a <style> in its
# shadow root and style attributes ('unsafe-inline' styles, never scripts), fetch and SSE to this
# origin, catalog images from any https host.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' https: data:; connect-src 'self'; font-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
# JSON and event streams are never rendered as documents: nothing may load or frame them.
API_CSP = "default-src 'none'; frame-ancestors 'none'"
HSTS = "max-age=31536000; includeSubDomains"
WIDGET_METHODS = ("GET", "POST", "PUT")
WIDGET_HEADERS = ("Authorization", "Content-Type", "X-API-Key", "Last-Event-ID")
# Orchestrators probe by pod address, whatever the configured names are.
PROBE_PATHS = frozenset({"/healthz", "/readyz"})


def host_allowed(host: str, allowed: list[str]) -> bool:
    """'shop.example' matches itself, '*.example' any subdomain of example, '*' everything."""
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.strip().lower().rstrip(".")
    for pattern in allowed:
        pattern = pattern.strip().lower()
        if pattern == "*" or pattern == name:
            return True
        if pattern.startswith("*.") and name.endswith(pattern[1:]) and len(name) > len(pattern) - 1:
            return True
    return False


class TrustedHosts:
    """A typed 400 for a Host header outside SOURCING_ALLOWED_HOSTS, before any route runs: a
    DNS-rebinding page cannot reach the API under its own name, and no redirect reflects it."""

    def __init__(self, app: ASGIApp, *, allowed: list[str]) -> None:
        self.app, self.allowed = app, allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] in PROBE_PATHS:
            await self.app(scope, receive, send)
            return
        host = Headers(scope=scope).get("host", "")
        if host_allowed(host, self.allowed):
            await self.app(scope, receive, send)
            return
        error = UnknownHostError(
            "this server does not answer for that Host; SOURCING_ALLOWED_HOSTS names the ones "
            "it does",
            host=host[:100],
        )
        await send_error(send, error)


class SecurityHeaders:
    """Adds the headers to every HTTP response, the app's errors and refusals included."""

    def __init__(self, app: ASGIApp, *, hsts: bool = False) -> None:
        self.app, self.hsts = app, hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                self._add(MutableHeaders(scope=message), path)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _add(self, headers: MutableHeaders, path: str) -> None:
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "no-referrer")
        if self.hsts:
            headers.setdefault("Strict-Transport-Security", HSTS)
        if path == "/widget.js":
            # Host pages on other origins load the script, also ones that isolate themselves.
            headers.setdefault("Cross-Origin-Resource-Policy", "cross-origin")
            return
        headers.setdefault("X-Frame-Options", "DENY")
        if path == "/":
            headers.setdefault("Content-Security-Policy", PAGE_CSP)
        elif path == "/v1" or path.startswith("/v1/"):
            headers.setdefault("Content-Security-Policy", API_CSP)
            # Answers are per key (conversations, alerts): no shared or browser cache keeps them.
            headers["Cache-Control"] = "no-store"


def install_browser_security(app: FastAPI, settings: Settings) -> None:
    """CORS for the configured widget origins only (none: the browser's same-origin rule), inside
    the security headers, so a preflight's answer carries them too."""
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=WIDGET_METHODS,
            allow_headers=WIDGET_HEADERS,
            allow_credentials=False,  # keys travel in headers, never in cookies
            expose_headers=("Retry-After",),
            max_age=600,
        )
    app.add_middleware(TrustedHosts, allowed=settings.allowed_hosts)
    app.add_middleware(SecurityHeaders, hsts=settings.hsts)
