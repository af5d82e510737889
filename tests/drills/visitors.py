"""A browser of the running service over real HTTP and WebSockets, with CSRF checks on:
``requests`` sessions carrying a session cookie (Django's test Client would skip the CSRF
check) and the ``websockets`` client with the browser's Origin and Cookie."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests
from django.apps import apps
from django.contrib.auth.models import User
from django.db.models import Model
from django.test import Client
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as open_socket
from websockets.typing import Origin

from onboarding.views.orgs import TEAM_KEY
from sync.models import Team
from tests.browser.servers import DaphneServer

REFUSED = 4403  # the close code of a socket that is not the user's
# What Django's debug pages carry and a production error page never may.
DEBUG_MARKERS = ("Traceback", "Exception Value", "Request Method", "DEBUG = True", "settings.py")


class Visitor:
    """A browser of the running service: its cookies (session and CSRF) and its Origin."""

    def __init__(
        self, server: DaphneServer, user: User | None = None, team: Team | None = None
    ) -> None:
        self.server = server
        self.http = requests.Session()
        self.session_id = ""
        if user is not None:
            client = Client()
            client.force_login(user)
            if team is not None:  # the team being onboarded, as choosing it remembers
                session = client.session
                session[TEAM_KEY] = team.pk
                session.save()
            self.session_id = client.cookies["sessionid"].value
            self.http.cookies.set("sessionid", self.session_id)
        self.get("/onboarding/start/")  # a page with a form: it sets the CSRF cookie

    @property
    def csrf(self) -> str:
        return str(self.http.cookies["csrftoken"])

    def get(self, path: str, **params: str) -> requests.Response:
        url = path if path.startswith("http") else f"{self.server.url}{path}"
        return self.http.get(url, params=params, allow_redirects=False, timeout=30)

    def post(
        self,
        path: str,
        data: dict[str, Any] | list[tuple[str, Any]] | None = None,
        *,
        csrf: bool | str = True,
        origin: str | None = None,
    ) -> requests.Response:
        """POST as a browser's form does; ``csrf`` False leaves the token out, a string sends
        that token instead of the page's."""
        fields = list((data or {}).items()) if not isinstance(data, list) else list(data)
        if csrf:
            fields.append(("csrfmiddlewaretoken", self.csrf if csrf is True else csrf))
        return self.http.post(
            f"{self.server.url}{path}",
            data=fields,
            headers={"Origin": origin or self.server.url},
            allow_redirects=False,
            timeout=60,
        )

    def socket(self, path: str, *, send: tuple[str, ...] = (), origin: str = "") -> Socket:
        """Open ``path``'s WebSocket, read its first frame, send ``send``, read until closed."""
        headers = {"Cookie": f"sessionid={self.session_id}"} if self.session_id else {}
        url = f"ws://127.0.0.1:{self.server.port}{path}"
        browser_origin = Origin(origin or self.server.url)
        with open_socket(url, origin=browser_origin, additional_headers=headers) as ws:
            frames: list[str] = []
            try:
                frames.append(str(ws.recv(timeout=10)))
                for frame in send:
                    ws.send(frame)
                while send:
                    frames.append(str(ws.recv(timeout=10)))
            except ConnectionClosed as closed:
                return Socket(frames, closed.rcvd.code if closed.rcvd else None)
            return Socket(frames, None)


@dataclass(frozen=True)
class Socket:
    """What a socket showed: its frames, and the code it was closed with (None: still open)."""

    frames: list[str]
    code: int | None


def rows() -> dict[str, list[dict[str, Any]]]:
    """Every row the product keeps (users and the sync app's tables), to compare over a drill."""
    models: list[type[Model]] = [User, *apps.get_app_config("sync").get_models()]
    return {
        model._meta.label: list(model._default_manager.order_by("pk").values()) for model in models
    }


def assert_page(response: requests.Response, status: int, *texts: str) -> None:
    """The answer is a readable page with ``status`` that says ``texts``, without debug detail."""
    page = response.text
    assert response.status_code == status, (response.status_code, page[:500])
    assert response.headers["Content-Type"].startswith("text/html")
    for text in texts:
        assert text in page, (text, page[:2000])
    assert not [marker for marker in DEBUG_MARKERS if marker in page]
