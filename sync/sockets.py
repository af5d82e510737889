"""Who may hold a progress socket, and how many: the Origin check, the per-user cap, and the
revocation that closes a user's sockets when they sign out or leave the organization.

Every socket also joins its user's group (``sync.user.<id>``). A revocation is one message to
that group, delivered through ``sync.fanout`` like progress, so it reaches the user's sockets
in every Daphne process within the channel layer's latency.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.db import transaction
from django.http.request import split_domain_port, validate_host

logger = logging.getLogger(__name__)

# Close codes the page's script knows (static/js/sync-progress.js); it retries neither.
SIGNED_OUT = 4401  # the user signed out, or lost the team on GitHub: sign in again
TOO_MANY_SOCKETS = 4409  # this user already holds SYNC_SOCKETS_PER_USER sockets here

_DEFAULT_PORTS = {"http": 80, "https": 443}


# -- the Origin check ---------------------------------------------------------------------------


class SameOriginValidator:
    """Let a handshake through only when its Origin is this site: scheme, host and port.

    The host must also be one of ALLOWED_HOSTS. Channels' AllowedHostsOriginValidator compares
    host names only, so a page on another port or scheme of the same host could read progress
    with the user's cookie. Origins in CSRF_TRUSTED_ORIGINS are also accepted (a proxy in front).
    A refused handshake is closed before accept: Daphne answers 403.
    """

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket" and not same_origin(scope):
            logger.info("refused a socket from another origin path=%s", scope.get("path"))
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)


def same_origin(scope: dict[str, Any]) -> bool:
    """Return whether the handshake's Origin is the site it was sent to."""
    headers = {name.lower(): value.decode("latin1") for name, value in scope.get("headers", [])}
    origin, host = headers.get(b"origin"), headers.get(b"host")
    if not origin or not host:
        return False
    domain, _ = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return False
    if origin in getattr(settings, "CSRF_TRUSTED_ORIGINS", []):
        return True
    scheme = "https" if scope.get("scheme") == "wss" or _behind_tls(headers) else "http"
    return _normalized(origin) == _normalized(f"{scheme}://{host}")


def _behind_tls(headers: dict[bytes, str]) -> bool:
    proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if not proxy:
        return False
    name, value = proxy
    header = name.lower().removeprefix("http_").replace("_", "-").encode()
    return headers.get(header, "").split(",")[0].strip() == value


def _normalized(origin: str) -> tuple[str, str, int | None] | None:
    try:
        parts = urlsplit(origin.strip().lower())
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        return None
    if not parts.hostname or parts.path not in ("", "/"):
        return None
    return parts.scheme, parts.hostname, port


# -- sockets per user ---------------------------------------------------------------------------

# Sockets per user in this process. Per process, not shared: a count in Redis would outlive a
# killed Daphne and lock its users out; one process is where a burst lands anyway.
_open: Counter[int] = Counter()


def claim_socket(user_id: int) -> bool:
    """Count one more socket of ``user_id``; return False (counting nothing) past the cap."""
    if _open[user_id] >= int(settings.SYNC_SOCKETS_PER_USER):
        return False
    _open[user_id] += 1
    return True


def release_socket(user_id: int) -> None:
    _open[user_id] -= 1
    if _open[user_id] <= 0:
        del _open[user_id]


# -- revocation ---------------------------------------------------------------------------------


def user_group(user_id: int) -> str:
    return f"sync.user.{user_id}"


def close_user_sockets(user_id: int, *, reason: str) -> None:
    """Close every progress socket of ``user_id`` once the current transaction commits."""
    transaction.on_commit(lambda: _send_close(user_id, reason), robust=True)


def _send_close(user_id: int, reason: str) -> None:
    group = user_group(user_id)
    message = {"type": "sync.close", "group": group, "close": SIGNED_OUT}
    async_to_sync(get_channel_layer().group_send)(group, message)
    logger.info("closed the sockets of user=%s (%s)", user_id, reason)
