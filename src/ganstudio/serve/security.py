"""What keeps a web page the user visits from driving the studio: the Host check (DNS rebinding),
the Origin check on every state-changing request (cross-site request forgery), and the headers
that keep server strings data, never script (Content-Security-Policy and friends).

A pure ASGI middleware rather than Starlette's TrustedHostMiddleware: the rule here is "any IP
literal, any *.localhost name, and the names the server was started for", which a list of glob
patterns cannot say (a rebinding attack needs a DNS name, so an IP literal in Host is safe).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable
from urllib.parse import urlsplit

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
# the studio's page and the API: scripts and styles from the studio's own files only, no inline
# script, no plug-ins, never framed
STRICT_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
# FastAPI's /docs and /redoc pages are an inline script over a CDN bundle; they show no user data
DOCS_CSP = "frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
DOCS_PATHS = ("/docs", "/redoc")
HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]


def host_name(value: str) -> str:
    """`Host` header or URL netloc → the lower-case name without port or IPv6 brackets."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def is_ip_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class BrowserGuard:
    """Refuses (403, JSON) requests whose Host is not one this server answers to, and
    state-changing requests (POST, PUT, PATCH, DELETE) that a browser sent from another origin;
    adds the security headers to every response. Clients that send no Origin or Referer (curl,
    Python) pass the Origin check: only browsers attach those, and a browser always does on a
    cross-origin POST."""

    def __init__(self, app, allowed_hosts: Iterable[str] = (), allowed_origins: Iterable[str] = ()) -> None:
        self.app = app
        self.any_host = "*" in allowed_hosts
        self.hosts = {host_name(h) for h in allowed_hosts if h != "*"} | {"localhost"}
        self.origins = {o.rstrip("/").lower() for o in allowed_origins}

    def host_allowed(self, host: str | None) -> bool:
        if host is None or self.any_host:
            return True  # HTTP/1.0 without Host: not a browser
        name = host_name(host)
        return is_ip_literal(name) or name in self.hosts or name.endswith(".localhost")

    def origin_allowed(self, origin: str, host: str | None) -> bool:
        """Same origin as the request (the Host it was sent to), or a configured CORS origin."""
        origin = origin.rstrip("/").lower()
        if origin in self.origins:
            return True
        if origin == "null" or host is None:
            return False
        parts = urlsplit(origin)
        return parts.scheme in ("http", "https") and parts.netloc == host.strip().lower()

    def refusal(self, scope: dict, headers: dict[str, str]) -> str | None:
        host = headers.get("host")
        if not self.host_allowed(host):
            return (
                f"this server does not answer to the host name {host_name(host or '')!r} (a page "
                "on another site may be trying to reach it); open the studio at http://localhost or "
                "start it with --allowed-host NAME"
            )
        if scope.get("method", "GET").upper() in SAFE_METHODS:
            return None
        origin = headers.get("origin")
        if origin is None and "referer" in headers:
            parts = urlsplit(headers["referer"])
            origin = f"{parts.scheme}://{parts.netloc}"
        if origin is not None and not self.origin_allowed(origin, host):
            return (
                f"a page from {origin[:100]!r} may not change anything here (cross-site request); "
                "use the studio itself, a client that sends no Origin, or start the server with "
                "--cors-origin ORIGIN"
            )
        if headers.get("sec-fetch-site") == "cross-site" and origin is None:
            return "a cross-site request may not change anything here"
        return None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        path = scope.get("path", "")
        csp = DOCS_CSP if path.startswith(DOCS_PATHS) else STRICT_CSP
        extra = [*HEADERS, (b"content-security-policy", csp.encode())]

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    (k, v) for k, v in extra if k not in present
                ]
            await send(message)

        reason = self.refusal(scope, headers)
        if reason is None:
            await self.app(scope, receive, send_with_headers)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        body = json.dumps({"error": reason}).encode()
        await send_with_headers(
            {
                "type": "http.response.start",
                "status": 403,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
