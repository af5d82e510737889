"""The sandbox's organization webhooks: created only by an owner with admin:org_hook, signed
deliveries over real HTTP for every change the control API makes, deliveries recorded with
their status code, redelivery, and the delivery faults."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from sandbox.testing import RunningSandbox, SandboxControl
from tests.processes import wait_for

SECRET = "it's-a-secret-to-everybody"


@dataclass
class Received:
    event: str
    guid: str
    hook_id: str
    signature: str
    body: bytes

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.body)  # type: ignore[no-any-return]

    def signed_with(self, secret: str) -> bool:
        digest = hmac.new(secret.encode(), self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(self.signature, f"sha256={digest}")


@dataclass
class Receiver:
    """An HTTP endpoint that records every POST and answers ``status``."""

    url: str = ""
    status: int = 200
    got: list[Received] = field(default_factory=list)

    def events(self, name: str) -> list[Received]:
        return [r for r in list(self.got) if r.event == name]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            found.got.append(
                Received(
                    self.headers["X-GitHub-Event"],
                    self.headers["X-GitHub-Delivery"],
                    self.headers["X-GitHub-Hook-ID"],
                    self.headers.get("X-Hub-Signature-256", ""),
                    body,
                )
            )
            self.send_response(found.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    found.url = f"http://127.0.0.1:{server.server_address[1]}/webhooks/github/"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield found
    server.shutdown()


def _post_hook(sandbox: RunningSandbox, token: str, url: str) -> requests.Response:
    body: dict[str, Any] = {
        "name": "web",
        "active": True,
        "events": ["pull_request", "pull_request_review", "push", "organization", "repository"],
        "config": {"url": url, "content_type": "json", "secret": SECRET},
    }
    headers = {"Authorization": f"token {token}"}
    return requests.post(
        f"{sandbox.api_url}/orgs/acme/hooks", json=body, headers=headers, timeout=10
    )


@pytest.fixture
def owner_token(control: SandboxControl) -> str:
    return control.issue_token("mona", ["read:org", "repo", "admin:org_hook"])


@pytest.fixture
def hook(
    sandbox: RunningSandbox, control: SandboxControl, owner_token: str, receiver: Receiver
) -> dict[str, Any]:
    answer = _post_hook(sandbox, owner_token, receiver.url)
    assert answer.status_code == 201, answer.text
    wait_for(lambda: receiver.events("ping"))
    return answer.json()  # type: ignore[no-any-return]


def test_it_refuses_a_hook_without_the_scope_or_to_a_member_who_is_no_owner(
    sandbox: RunningSandbox, control: SandboxControl, receiver: Receiver
) -> None:
    no_scope = control.issue_token("mona", ["read:org", "repo"])
    not_owner = control.issue_token("xavier", ["read:org", "repo", "admin:org_hook"])
    for token in (no_scope, not_owner):
        answer = _post_hook(sandbox, token, receiver.url)
        assert answer.status_code == 404
        assert answer.headers["X-Accepted-OAuth-Scopes"] == "admin:org_hook"
    listed = requests.get(
        f"{sandbox.api_url}/orgs/acme/hooks",
        headers={"Authorization": f"token {not_owner}"},
        timeout=10,
    )
    assert listed.status_code == 404
    assert receiver.got == []


def test_it_creates_a_hook_and_pings_it_signed(
    sandbox: RunningSandbox, owner_token: str, hook: dict[str, Any], receiver: Receiver
) -> None:
    assert hook["config"] == {
        "url": receiver.url,
        "content_type": "json",
        "insecure_ssl": "0",
        "secret": "********",
    }
    ping = receiver.events("ping")[0]
    assert ping.signed_with(SECRET) and ping.hook_id == str(hook["id"])
    assert ping.payload["hook_id"] == hook["id"] and ping.payload["organization"]["login"] == "acme"
    headers = {"Authorization": f"token {owner_token}"}
    listed = requests.get(f"{sandbox.api_url}/orgs/acme/hooks", headers=headers, timeout=10).json()
    assert [h["id"] for h in listed] == [hook["id"]]
    one = requests.get(
        f"{sandbox.api_url}/orgs/acme/hooks/{hook['id']}", headers=headers, timeout=10
    )
    assert one.json()["events"] == hook["events"]


def test_it_delivers_every_change_of_the_control_api(
    control: SandboxControl, hook: dict[str, Any], receiver: Receiver
) -> None:
    name = _a_repo(control)
    pull = control.update_pull("acme", name, 1, title="Renamed in a test")
    control.review_pull("acme", name, 1, by="bob", state="CHANGES_REQUESTED")
    control.force_push("acme", name, 2, keep=1, add=2)
    control.merge_pull("acme", name, 3, by="walter")
    control.add_member("acme", "carol")
    control.remove_member("acme", "carol")
    control.rename_repo("acme", name, f"{name}-renamed")
    control.archive_repo("acme", f"{name}-renamed")
    control.wait_for_deliveries()

    # Delivered from a pool of threads, as GitHub does: not necessarily in order.
    kinds = sorted(f"{r.event} {r.payload.get('action')}" for r in receiver.got)
    assert kinds == [
        "organization member_added",
        "organization member_removed",
        "ping None",
        "pull_request closed",
        "pull_request edited",
        "pull_request synchronize",
        "pull_request_review submitted",
        "push None",
        "repository archived",
        "repository renamed",
    ]
    assert all(r.signed_with(SECRET) for r in receiver.got)
    assert len({r.guid for r in receiver.got}) == len(receiver.got)
    by_action = {r.payload["action"]: r.payload for r in receiver.events("pull_request")}
    edited = by_action["edited"]
    assert edited["pull_request"]["id"] == pull["id"]
    assert edited["pull_request"]["title"] == "Renamed in a test"
    assert edited["repository"]["full_name"] == f"acme/{name}"
    review = receiver.events("pull_request_review")[0].payload
    assert review["review"]["state"] == "changes_requested"
    assert review["review"]["user"]["login"] == "bob"
    push = receiver.events("push")[0].payload
    assert push["ref"].startswith("refs/heads/") and len(push["commits"]) == 2
    merged = by_action["closed"]
    assert merged["pull_request"]["merged"] is True
    added = next(
        r.payload for r in receiver.events("organization") if "added" in r.payload["action"]
    )
    assert added["membership"]["user"]["login"] == "carol"
    renamed = next(
        r.payload for r in receiver.events("repository") if r.payload["action"] == "renamed"
    )
    assert renamed["changes"] == {"repository": {"name": {"from": name}}}
    assert renamed["repository"]["full_name"] == f"acme/{name}-renamed"


def test_it_records_each_attempt_and_redelivers_a_failed_one(
    sandbox: RunningSandbox,
    control: SandboxControl,
    owner_token: str,
    hook: dict[str, Any],
    receiver: Receiver,
) -> None:
    name = _a_repo(control)
    receiver.status = 500
    control.update_pull("acme", name, 1, title="First try fails")
    control.wait_for_deliveries()
    headers = {"Authorization": f"token {owner_token}"}
    url = f"{sandbox.api_url}/orgs/acme/hooks/{hook['id']}/deliveries"
    failed = requests.get(url, headers=headers, timeout=10).json()[0]
    assert failed["status_code"] == 500 and failed["redelivery"] is False
    assert failed["status"] == "Invalid HTTP Response: 500" and failed["duration"] >= 0

    receiver.status = 200
    answer = requests.post(f"{url}/{failed['id']}/attempts", headers=headers, timeout=10)
    assert answer.status_code == 202
    control.wait_for_deliveries()
    again = requests.get(url, headers=headers, timeout=10).json()[0]
    assert again["guid"] == failed["guid"] and again["redelivery"] is True
    assert again["status_code"] == 200 and again["status"] == "OK"
    assert [r.guid for r in receiver.events("pull_request")] == [failed["guid"]] * 2


def test_it_drops_duplicates_delays_and_missigns_deliveries_on_demand(
    control: SandboxControl, hook: dict[str, Any], receiver: Receiver
) -> None:
    name = _a_repo(control)
    control.set_hook_faults(drop=1.0)
    control.update_pull("acme", name, 1, title="Dropped")
    control.wait_for_deliveries()
    dropped = control.hook_deliveries("acme")[0]
    assert dropped["status_code"] == 0 and "failed to connect" in dropped["status"]
    assert receiver.events("pull_request") == []

    control.set_hook_faults(drop=0, duplicate=1.0)
    control.update_pull("acme", name, 1, title="Twice")
    control.wait_for_deliveries()
    twice = receiver.events("pull_request")
    assert len(twice) == 2 and twice[0].guid == twice[1].guid

    faults = control.set_hook_faults(duplicate=0, bad_signature=1.0, delay_s=0.3)
    assert faults["dropped"] == 1 and faults["duplicated"] == 1
    control.update_pull("acme", name, 1, title="Wrongly signed")
    assert len(receiver.events("pull_request")) == 2  # still waiting out its delay
    control.wait_for_deliveries()
    wrong = receiver.events("pull_request")[-1]
    assert not wrong.signed_with(SECRET) and wrong.signature.startswith("sha256=")


def _a_repo(control: SandboxControl) -> str:
    token = control.issue_token("mona", ["read:org", "repo"])
    return _repos(control, token)[0]


def _repos(control: SandboxControl, token: str) -> list[str]:
    answer = requests.get(
        f"{control.url}/api/v3/orgs/acme/repos",
        headers={"Authorization": f"token {token}"},
        params={"sort": "full_name"},
        timeout=10,
    )
    return [r["name"] for r in answer.json() if not r["archived"]]
