"""The web process: Daphne's command line, with OAuth codes and states kept out of its access log.

``python -m project.web -b 0.0.0.0 -p 8000 asgi:application`` takes Daphne's arguments. Daphne
logs every request's full URI; an OAuth callback's query string carries a one-time code and the
state that guards it, so such a query string is replaced before the line is written.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote, urlsplit

from daphne.cli import CommandLineInterface
from daphne.server import Server

# A code or state parameter, also inside another parameter (a sign-in's ?next=<callback URL>).
_SECRET_PARAMETER = re.compile(r"(?:^|[?&])(?:code|state)=", re.IGNORECASE)


def strip_secrets(uri: str) -> str:
    """Return ``uri`` without its query string if that carries an OAuth code or state."""
    query = urlsplit(uri).query
    if _SECRET_PARAMETER.search(unquote(unquote(query))):
        return uri.split("?", 1)[0] + "?[redacted]"
    return uri


class WebServer(Server):
    def log_action(self, protocol: str, action: str, details: dict[str, Any]) -> None:
        if "path" in details:
            details = {**details, "path": strip_secrets(str(details["path"]))}
        super().log_action(protocol, action, details)


class WebCommandLine(CommandLineInterface):
    server_class = WebServer


if __name__ == "__main__":
    WebCommandLine.entrypoint()
