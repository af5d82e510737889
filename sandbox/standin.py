"""What every provider's stand-in (Jira, Slack) shares: one base for its state (the app's
credentials, single-use OAuth codes, a lock, request counters) and one for its HTTP service
(faults, counting, the consent page and its redirect back). A new stand-in is a world and a
service over these two.

Faults registered with ``POST /_sandbox/faults`` match any request path, so the same control
API that breaks GitHub breaks ``/atlassian/...`` and ``/slack/...`` too: ``status`` answers
with that status (JSON body, or the fault's body), ``delay`` sleeps first (client timeouts),
``malformed_json`` cuts a 200 answer's body in half. GitHub's own kinds (``secondary_limit``,
``sso``) answer as a plain ``status`` fault here.
"""

from __future__ import annotations

import base64
import html
import secrets
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from sandbox.github.limits import Clock, Fault, Limits
from sandbox.server import Request, Response, Sandbox

CODE_TTL_S = 600  # RFC 6749 4.1.2: codes last ten minutes (Atlassian and Slack say so too)


class Recorder:
    """Requests answered by one stand-in: by endpoint, by status, and by token."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_endpoint: Counter[str] = Counter()
        self.by_status: Counter[str] = Counter()
        self.by_token: Counter[str] = Counter()

    def record(self, endpoint: str, status: int, token: str | None = None) -> None:
        with self.lock:
            self.by_endpoint[endpoint] += 1
            self.by_status[str(status)] += 1
            if token:
                self.by_token[token] += 1

    def snapshot(self) -> dict[str, object]:
        with self.lock:
            return {
                "requests": sum(self.by_endpoint.values()),
                "by_endpoint": dict(self.by_endpoint),
                "by_status": dict(self.by_status),
                "by_token": dict(self.by_token),
            }


def fault_before(limits: Limits, request: Request) -> tuple[Response | None, Fault | None]:
    """Apply a registered fault that fires for this request: sleep, or answer in its place."""
    fault = limits.fault_for(request.method, request.path)
    if fault is None:
        return None, None
    if fault.kind == "delay":
        time.sleep(fault.delay_s)
        return None, fault
    if fault.kind in ("malformed_json", "malformed_item"):
        return None, fault
    status = fault.status or 500
    if isinstance(fault.body, str):
        return Response(status, fault.body.encode(), {"Content-Type": "text/html"}), fault
    body = fault.body if fault.body is not None else {"message": "Server Error"}
    return Response.json(status, body), fault


def fault_after(fault: Fault | None, response: Response) -> Response:
    """Corrupt a successful answer's body when the fault asks for it."""
    if fault is not None and fault.kind.startswith("malformed") and response.status == 200:
        response.body = response.body[: max(1, len(response.body) // 2)]
    return response


def bearer(request: Request) -> str | None:
    """Return the bearer token of the Authorization header, if any."""
    scheme, _, value = request.header("Authorization").strip().partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def page(title: str, body: str) -> str:
    """Wrap ``body`` (already escaped HTML) in a minimal page."""
    return f"""<!doctype html>
<html lang="en">
  <head><meta charset="utf-8"><title>{html.escape(title)}</title></head>
  <body>
    <main>
{body}
    </main>
  </body>
</html>
"""


def hidden_inputs(fields: dict[str, str]) -> str:
    """Render ``fields`` as hidden inputs of a form, one a line."""
    return "\n".join(
        f'        <input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in fields.items()
    )


def with_query(uri: str, query: dict[str, str]) -> str:
    """Append ``query`` to ``uri``, which may already carry one."""
    joiner = "&" if urlsplit(uri).query else "?"
    return f"{uri}{joiner}{urlencode(query)}"


def client_credentials(request: Request, fields: Mapping[str, object]) -> tuple[str, str]:
    """Return the client id and secret, from HTTP Basic auth or from the body's fields."""
    header = request.header("Authorization")
    if header.lower().startswith("basic "):
        try:
            client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return "", ""
        return client_id, secret
    return str(fields.get("client_id") or ""), str(fields.get("client_secret") or "")


@dataclass(slots=True)
class Code:
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    issued_at: float
    used: bool = False


class StandInWorld:
    """A provider's state: its OAuth app, the codes it handed out, its counters, one lock."""

    def __init__(self, *, clock: Clock, client_id: str, client_secret: str) -> None:
        self.clock = clock
        self.client_id = client_id
        self.client_secret = client_secret
        self.lock = threading.Lock()
        self.recorder = Recorder()  # requests answered, for /_sandbox/<name>/counters
        self.codes: dict[str, Code] = {}

    def issue_code(
        self, *, client_id: str, redirect_uri: str, scopes: tuple[str, ...], code: str = ""
    ) -> str:
        """Record a consent and return its single-use code."""
        code = code or secrets.token_urlsafe(24)
        with self.lock:
            self.codes[code] = Code(client_id, redirect_uri, scopes, self.clock.now())
        return code

    def take_code(self, code: str, redirect_uri: str | None) -> tuple[Code | None, str]:
        """Spend a code: (code, "") or (None, "invalid" | "redirect_uri"). Call under the lock."""
        found = self.codes.get(code)
        if found is None or found.used or self.clock.now() - found.issued_at > CODE_TTL_S:
            return None, "invalid"
        # The redirect_uri must match the one the consent page was given, if any.
        if found.redirect_uri and redirect_uri != found.redirect_uri:
            return None, "redirect_uri"
        found.used = True
        return found, ""


class StandInService:
    """A provider's HTTP answers: faults first, then the provider's own, every one counted."""

    app_name = "PR Insights"

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    @property
    def world(self) -> StandInWorld:
        raise NotImplementedError

    def handle(self, request: Request) -> Response:
        """Answer one request, applying registered faults, then count it."""
        token = bearer(request)
        early, fault = fault_before(self.sandbox.limits, request)
        response = early or fault_after(fault, self.answer(request))
        self.world.recorder.record(self.endpoint(request), response.status, token)
        return response

    def answer(self, request: Request) -> Response:
        raise NotImplementedError

    def endpoint(self, request: Request) -> str:
        return f"{request.method} {request.path}"

    def consent_page(
        self,
        *,
        title: str,
        heading: str,
        action: str,
        fields: dict[str, str],
        scopes: list[str],
        extra: str = "",
        accept: tuple[str, str],
    ) -> Response:
        """Show a consent page: the scopes, ``extra`` controls, accept and Cancel buttons."""
        items = "".join(f"<li><code>{html.escape(s)}</code></li>" for s in scopes)
        value, label = accept
        body = f"""      <h1>{heading}</h1>
      <ul>{items}</ul>
      <form method="post" action="{action}">
{hidden_inputs(fields)}
{extra}        <button type="submit" name="decision" value="{value}">{label}</button>
        <button type="submit" name="decision" value="cancel">Cancel</button>
      </form>"""
        return Response.html(200, page(title, body))
