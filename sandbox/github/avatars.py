"""Avatar images at the URLs GitHub's payloads name: ``/avatars/u/<id>?v=4&s=<size>``.

GitHub serves them from ``avatars.githubusercontent.com``; the sandbox serves generated ones
from its own host (``payloads.py`` and ``graphql.py`` write the URLs): a 5x5 mirrored pattern in
a colour taken from the account, as an SVG, the same for the same account every time. Commit
authors without an account (``/avatars/u/e?email=...``) get one from their address.
"""

from __future__ import annotations

import hashlib
import re

from sandbox.server import Request, Response

_PATH = re.compile(r"^/avatars/u/(?P<key>\d+|e)$")
DEFAULT_SIZE = 460  # GitHub's size when ``s`` is absent
MAX_SIZE = 460


def handle(request: Request) -> Response:
    """Answer an avatar request as GitHub's avatar host does: an image, or 404."""
    found = _PATH.match(request.path)
    if found is None or request.method not in ("GET", "HEAD"):
        return Response(404, b"Not Found", {"Content-Type": "text/plain"})
    key = found["key"] if found["key"] != "e" else f"e:{request.arg('email', '')}"
    try:
        size = min(MAX_SIZE, max(1, int(request.arg("s") or DEFAULT_SIZE)))
    except ValueError:
        size = DEFAULT_SIZE
    headers = {"Content-Type": "image/svg+xml", "Cache-Control": "max-age=300"}
    return Response(200, identicon(key, size).encode(), headers)


def identicon(key: str, size: int) -> str:
    """Return an SVG of ``size`` pixels: a mirrored 5x5 pattern seeded by ``key``."""
    digest = hashlib.sha256(key.encode()).digest()
    colour = f"hsl({digest[0] * 360 // 256},{45 + digest[1] % 25}%,{45 + digest[2] % 15}%)"
    cells = []
    for row in range(5):
        for column in range(3):
            if digest[3 + row * 3 + column] % 2:
                for x in {column, 4 - column}:
                    cells.append(f'<rect x="{x + 0.5}" y="{row + 0.5}" width="1" height="1"/>')
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
        f'viewBox="0 0 6 6"><rect width="6" height="6" fill="#f0f0f0"/>'
        f'<g fill="{colour}">{"".join(cells)}</g></svg>'
    )
