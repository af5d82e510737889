"""The OAuth web flow of the sandbox GitHub: the authorize page and the code exchange.

GitHub: https://docs.github.com/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps.
The authorize page is a plain HTML form (Authorize / Cancel) that a test drives with any HTTP
client. Codes are single-use and expire after ten minutes; exchange errors come back with HTTP
200 and an ``error`` field, JSON when asked with ``Accept: application/json``, else
form-encoded, as GitHub sends them.
"""

from __future__ import annotations

import html
import secrets
import threading
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from sandbox.github.limits import Clock
from sandbox.github.world import World
from sandbox.server import Request, Response
from sandbox.standin import client_credentials, with_query

CODE_TTL_S = 600  # GitHub: "codes expire after 10 minutes"
DEFAULT_LOGIN = "mona"
_TROUBLE = "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/"
_AUTH_TROUBLE = (
    "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-authorization-request-errors/"
)
EXCHANGE_ERRORS = {
    "bad_verification_code": "The code passed is incorrect or expired.",
    "incorrect_client_credentials": "The client_id and/or client_secret passed are incorrect.",
    "redirect_uri_mismatch": (
        "The redirect_uri MUST match the registered callback URL for this application."
    ),
}
_ERROR_ANCHORS = {
    "bad_verification_code": "bad-verification-code",
    "incorrect_client_credentials": "incorrect-client-credentials",
    "redirect_uri_mismatch": "redirect-uri-mismatch2",
}


@dataclass(frozen=True, slots=True)
class OAuthApp:
    client_id: str
    client_secret: str
    name: str
    callback_url: str | None = None  # None: any redirect_uri is accepted


@dataclass(slots=True)
class Grant:
    client_id: str
    redirect_uri: str
    login: str
    scopes: tuple[str, ...]
    issued_at: float
    used: bool = False


class OAuth:
    """One OAuth app's authorize page and token endpoint."""

    def __init__(self, app: OAuthApp, world: World, clock: Clock) -> None:
        self.app = app
        self.world = world
        self.clock = clock
        self.grants: dict[str, Grant] = {}
        self.lock = threading.Lock()

    def handle(self, request: Request) -> Response:
        """Answer ``/login/oauth/authorize`` (GET page, POST decision) and ``/access_token``."""
        if request.path == "/login/oauth/authorize" and request.method == "GET":
            return self.authorize_page(request.form())
        if request.path == "/login/oauth/authorize" and request.method == "POST":
            return self.decide(request.form())
        if request.path == "/login/oauth/access_token" and request.method == "POST":
            return self.exchange(request)
        return Response.html(
            404, "<h1>404</h1><p>This is not the web page you are looking for.</p>"
        )

    # -- authorize ------------------------------------------------------------------------

    def _redirect_error(self, fields: dict[str, str]) -> Response | None:
        if fields.get("client_id") != self.app.client_id:
            return Response.html(404, "<h1>404</h1><p>Unknown OAuth application.</p>")
        uri = fields.get("redirect_uri") or self.app.callback_url
        if not uri:
            return Response.html(400, "<h1>redirect_uri is required</h1>")
        if not self._redirect_allowed(uri):
            # GitHub redirects a mismatch to the registered callback with an error.
            query = {
                "error": "redirect_uri_mismatch",
                "error_description": EXCHANGE_ERRORS["redirect_uri_mismatch"],
                "error_uri": f"{_AUTH_TROUBLE}#redirect-uri-mismatch",
                "state": fields.get("state", ""),
            }
            return Response.redirect(with_query(str(self.app.callback_url), query))
        login = fields.get("login") or DEFAULT_LOGIN
        account = self.world.account(login)
        if account is None or account.type != "User":
            return Response.html(422, f"<h1>No sandbox user {html.escape(login)}</h1>")
        return None

    def _redirect_allowed(self, uri: str) -> bool:
        # GitHub: host and port must match the callback URL; the path may be a subdirectory.
        if self.app.callback_url is None:
            return True
        wanted, given = urlsplit(self.app.callback_url), urlsplit(uri)
        return (
            wanted.scheme == given.scheme
            and wanted.netloc == given.netloc
            and given.path.startswith(wanted.path.rstrip("/"))
        )

    def authorize_page(self, fields: dict[str, str]) -> Response:
        """Show the "Authorize <app>" page with Authorize and Cancel buttons."""
        problem = self._redirect_error(fields)
        if problem is not None:
            return problem
        login = fields.get("login") or DEFAULT_LOGIN
        scopes = _scopes(fields.get("scope", ""))
        hidden = {
            "client_id": self.app.client_id,
            "redirect_uri": fields.get("redirect_uri") or str(self.app.callback_url),
            "scope": " ".join(scopes),
            "state": fields.get("state", ""),
            "login": login,
        }
        return Response.html(200, _page(self.app.name, login, scopes, hidden))

    def decide(self, fields: dict[str, str]) -> Response:
        """Redirect back with a code (Authorize) or ``access_denied`` (Cancel)."""
        problem = self._redirect_error(fields)
        if problem is not None:
            return problem
        uri = fields.get("redirect_uri") or str(self.app.callback_url)
        state = fields.get("state", "")
        if fields.get("authorize") != "1":
            query = {
                "error": "access_denied",
                "error_description": "The user has denied your application access.",
                "error_uri": f"{_AUTH_TROUBLE}#access-denied",
                "state": state,
            }
            return Response.redirect(with_query(uri, query))
        code = secrets.token_hex(10)  # GitHub codes are 20 hex characters
        grant = Grant(
            self.app.client_id,
            uri,
            fields.get("login") or DEFAULT_LOGIN,
            _scopes(fields.get("scope", "")),
            self.clock.now(),
        )
        with self.lock:
            self.grants[code] = grant
        return Response.redirect(with_query(uri, {"code": code, "state": state}))

    # -- exchange -------------------------------------------------------------------------

    def exchange(self, request: Request) -> Response:
        """Trade a code for an access token (``POST /login/oauth/access_token``)."""
        fields = request.form()
        client_id, secret = client_credentials(request, fields)
        if client_id != self.app.client_id or secret != self.app.client_secret:
            return _token_answer(request, _error_fields("incorrect_client_credentials"))
        with self.lock:
            grant = self.grants.get(fields.get("code", ""))
            if grant is None or grant.used or self._expired(grant):
                return _token_answer(request, _error_fields("bad_verification_code"))
            uri = fields.get("redirect_uri")
            if uri and uri != grant.redirect_uri:
                return _token_answer(request, _error_fields("redirect_uri_mismatch"))
            grant.used = True
        token = self.world.issue_token(grant.login, grant.scopes)
        answer = {
            "access_token": token.value,
            "token_type": "bearer",
            "scope": ",".join(grant.scopes),
        }
        return _token_answer(request, answer)

    def _expired(self, grant: Grant) -> bool:
        return self.clock.now() - grant.issued_at > CODE_TTL_S


def _scopes(raw: str) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for scope in raw.replace(",", " ").split():
        seen.setdefault(scope, None)
    return tuple(seen)


def _error_fields(error: str) -> dict[str, str]:
    return {
        "error": error,
        "error_description": EXCHANGE_ERRORS[error],
        "error_uri": f"{_TROUBLE}#{_ERROR_ANCHORS[error]}",
    }


def _token_answer(request: Request, fields: dict[str, str]) -> Response:
    # GitHub answers 200 even for errors; JSON only when the client asks for it.
    if "application/json" in request.header("Accept"):
        return Response.json(200, fields)
    body = urlencode(fields).encode()
    return Response(200, body, {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})


def _page(app: str, login: str, scopes: tuple[str, ...], hidden: dict[str, str]) -> str:
    name = html.escape(app)
    inputs = "\n".join(
        f'      <input type="hidden" name="{k}" value="{html.escape(v, quote=True)}">'
        for k, v in hidden.items()
    )
    items = (
        "".join(f"<li><code>{html.escape(s)}</code></li>" for s in scopes)
        or "<li>public data only</li>"
    )
    return f"""<!doctype html>
<html lang="en">
  <head><meta charset="utf-8"><title>Authorize {name}</title></head>
  <body>
    <main>
      <h1>Authorize {name}</h1>
      <p>{name} wants to access your <strong>{html.escape(login)}</strong> account.</p>
      <ul>{items}</ul>
      <form method="post" action="/login/oauth/authorize">
{inputs}
        <button type="submit" name="authorize" value="1">Authorize {name}</button>
        <button type="submit" name="authorize" value="0">Cancel</button>
      </form>
    </main>
  </body>
</html>
"""
