"""The HTTP every provider client shares: app credentials, a timeout on every call, and the
failures every provider has in common (unreachable, 429, 5xx) raised as Transient."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests

from sync.providers.errors import Transient

logger = logging.getLogger(__name__)


class ProviderHttp:
    """One provider's app (client id and secret) over one requests session."""

    vendor = "The provider"  # named in messages: "Atlassian could not be reached"

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        timeout: float,
        session: requests.Session | None = None,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.timeout = timeout
        self.http = session or requests.Session()

    def send(self, method: str, url: str, **options: Any) -> requests.Response:
        """Send one request; raise Transient when it fails, is rate limited or fails over there."""
        try:
            response = self.http.request(method, url, timeout=self.timeout, **options)
        except requests.RequestException as error:
            logger.warning("%s request failed: %s %s", self.vendor, method, type(error).__name__)
            raise Transient(f"{self.vendor} could not be reached; try again shortly.") from None
        if response.status_code == 429 or response.status_code >= 500:
            raise Transient(
                f"{self.vendor} answered {response.status_code}; try again shortly.",
                code="ratelimited" if response.status_code == 429 else "",
                retry_after=_float(response.headers.get("Retry-After")),
            )
        return response


def json_of(response: requests.Response) -> Any:
    """Return the answer's JSON, or None when it is not JSON."""
    try:
        return response.json()
    except ValueError:
        return None


def with_query(url: str, query: dict[str, str]) -> str:
    """Append ``query`` to ``url``, which may already carry one."""
    return f"{url}{'&' if urlsplit(url).query else '?'}{urlencode(query)}"


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None
