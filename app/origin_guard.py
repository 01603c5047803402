"""Who may talk to the server: a strict Host and Origin allow-list, in front of every route.

Gradio protects only requests whose Host is localhost, 127.0.0.1 or 0.0.0.0; for any other Host
its CORS middleware echoes the caller's Origin (even ``null``) with credentials allowed. So a
page on any web site could read a no-auth server's /config and images through a DNS name that
resolves to it (DNS rebinding), or through another loopback address, and a foreign page could
post an upload with the clinician's login cookie (CSRF).

:class:`OriginGuard` is a pure ASGI middleware that answers 403, before any route runs, when

- the ``Host`` header names no allowed host (the bound address, its loopback names when bound to
  loopback, this machine's names and addresses when bound to all interfaces, and the names the
  operator adds with ``--allow-host`` / ``RADLENS_ALLOWED_HOSTS``), which defeats DNS rebinding;
- an ``Origin`` header is present and is not this server's own origin (the same scheme-less
  ``host:port`` as the ``Host`` header) nor one the operator allowed: a browser sends Origin on
  every cross-site POST, fetch and WebSocket, so a foreign page can neither read a response nor
  change anything (uploads, queue joins, login), and ``null`` (sandboxed pages, files) is refused.

Requests without an Origin (the page's own same-origin GETs, scripts, ``gradio_client``) pass:
they carry no browser's ambient credentials from another site; a state-changing one that
carries a ``Referer`` instead must come from this server's page.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

__all__ = ["ALLOWED_HOSTS_ENV", "LOOPBACK_NAMES", "OriginGuard", "allowed_hosts", "host_name"]

ALLOWED_HOSTS_ENV = "RADLENS_ALLOWED_HOSTS"
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
_ALL_INTERFACES = frozenset({"0.0.0.0", "::", ""})

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def host_name(value: str) -> str:
    """The host of a ``Host`` header or netloc, lower case, without port or IPv6 brackets."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    if value.count(":") == 1:
        value = value.split(":", 1)[0]
    return value.rstrip(".")


def _machine_names() -> set[str]:
    """This machine's host names and addresses (what a LAN client may type)."""
    names = {socket.gethostname().lower(), socket.getfqdn().lower()}
    addresses: set[str] = set()
    for name in names:
        try:
            addresses.update(str(info[4][0]).lower() for info in socket.getaddrinfo(name, None))
        except OSError:
            continue
    return {n for n in names | addresses if n}


def allowed_hosts(bound: str, extra: Iterable[str] = ()) -> frozenset[str]:
    """The hosts a request may name for a server bound to ``bound``, plus ``extra`` and the
    comma-separated :data:`ALLOWED_HOSTS_ENV`."""
    hosts = {host_name(h) for h in extra if h.strip()}
    hosts |= {host_name(h) for h in os.environ.get(ALLOWED_HOSTS_ENV, "").split(",") if h.strip()}
    bound = host_name(bound)
    if bound in _ALL_INTERFACES:
        hosts |= LOOPBACK_NAMES | _machine_names()
    elif bound in LOOPBACK_NAMES or _is_loopback_address(bound):
        hosts |= LOOPBACK_NAMES | {bound}
    else:
        hosts.add(bound)
    return frozenset(hosts)


def _is_loopback_address(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _port(netloc: str) -> str:
    tail = netloc.strip().rsplit("]", 1)[-1]
    return tail.split(":", 1)[1] if ":" in tail else ""


class OriginGuard:
    """The ASGI middleware (see the module docstring)."""

    def __init__(self, app: ASGIApp, hosts: frozenset[str]):
        self.app = app
        self.hosts = hosts

    def refusal(self, scope: Scope) -> str:
        """Why the request is refused, or "" when it may go on."""
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        if host_name(host) not in self.hosts:
            return (
                f"host {host_name(host)[:60]!r} is not allowed (add it with --allow-host or "
                f"{ALLOWED_HOSTS_ENV})"
            )
        origin = headers.get("origin")
        if origin is None and scope.get("method", "GET") not in ("GET", "HEAD", "OPTIONS"):
            # A state-changing request from a browser that sent no Origin: its Referer, when
            # there is one, must be this server's page (the OWASP CSRF fallback).
            referer = headers.get("referer")
            origin = (
                None
                if referer is None
                else "{0.scheme}://{0.netloc}".format(urlsplit(referer.strip()))
            )
        if origin is None:
            return ""
        parts = urlsplit(origin.strip())
        if origin.strip().lower() == "null" or parts.scheme not in ("http", "https"):
            return "a request from an opaque origin is not allowed"
        if parts.netloc.lower() == host.strip().lower():
            return ""  # the page RadLens served
        # Another allowed name of this same server (its port): the page opened as localhost
        # calling 127.0.0.1, or a name the operator added. Any other port is another site.
        if host_name(parts.netloc) in self.hosts and _port(parts.netloc) == _port(host):
            return ""
        return "a cross-origin request is not allowed"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        why = self.refusal(scope)
        if not why:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        body = json.dumps({"detail": f"RadLens: {why}."}).encode()
        await send(
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
