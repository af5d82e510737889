"""What every benchmark that serves pages sets: production mode, but plain http on loopback."""

from __future__ import annotations

import os

# With DEBUG off the service redirects http to https and marks cookies Secure; a benchmark
# talks plain http to 127.0.0.1, as the tests do (tests/backends.py).
PLAIN_HTTP = {"SECURE_SSL_REDIRECT": "0", "SECURE_COOKIES": "0", "SECURE_HSTS_SECONDS": "0"}


def serve_plain_http() -> None:
    """Have this process and the servers it starts answer plain http on loopback."""
    os.environ.update(PLAIN_HTTP)
