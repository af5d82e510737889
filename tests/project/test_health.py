from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from django.contrib.auth.models import User
from django.test import Client

from tests.browser.servers import DaphneServer
from tests.processes import start_worker, wait_for
from tests.sync.jobs import no_worker


@pytest.fixture
def workers_gone() -> None:
    """No worker heartbeat, not even one an earlier test's worker left seconds ago."""
    no_worker()


def test_it_is_alive(client: Client) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_it_is_not_ready_without_a_worker(client: Client, workers_gone: None) -> None:
    response = client.get("/readyz")

    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "unavailable"
    assert body["checks"]["database"]["ok"] and body["checks"]["redis"]["ok"]
    assert body["checks"]["broker"]["ok"]
    assert "no worker process" in body["checks"]["worker"]["detail"]


@pytest.mark.django_db(transaction=True)
def test_it_is_ready_once_a_worker_beats(client: Client, tmp_path: Path) -> None:
    worker = start_worker(tmp_path / "worker.log", threads=1)
    try:
        wait_for(lambda: client.get("/readyz").status_code == 200, timeout=30)
        response = client.get("/readyz")
    finally:
        worker.stop()

    assert response.json()["checks"]["worker"]["detail"].startswith("last heartbeat")


@pytest.mark.django_db
def test_it_gives_a_remote_anonymous_caller_the_bare_status(
    client: Client, workers_gone: None
) -> None:
    response = client.get("/readyz", REMOTE_ADDR="203.0.113.7")

    assert response.status_code == 503
    assert response.json() == {"status": "unavailable"}


@pytest.mark.django_db
def test_it_gives_a_remote_member_the_bare_status(
    client: Client, bob: User, workers_gone: None
) -> None:
    client.force_login(bob)

    response = client.get("/readyz", REMOTE_ADDR="203.0.113.7")

    assert response.json() == {"status": "unavailable"}


@pytest.mark.django_db
def test_it_gives_staff_the_details_from_anywhere(
    client: Client, sam: User, workers_gone: None
) -> None:
    client.force_login(sam)

    response = client.get("/readyz", REMOTE_ADDR="203.0.113.7")

    assert "no worker process" in response.json()["checks"]["worker"]["detail"]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_it_stays_ready_under_forty_clients_at_once(tmp_path: Path) -> None:
    worker = start_worker(tmp_path / "worker.log", threads=1)
    daphne = DaphneServer(tmp_path)
    daphne.start()
    try:
        wait_for(lambda: requests.get(f"{daphne.url}/readyz", timeout=5).ok, timeout=30)
        with ThreadPoolExecutor(CLIENTS) as clients:
            answers = list(clients.map(lambda _: _probe(daphne.url), range(CLIENTS * PROBES)))
    finally:
        daphne.stop()
        worker.stop()

    failures = Counter(answer for answer in answers if answer != "200")
    assert not failures, failures.most_common(5)


CLIENTS, PROBES = 40, 10


def _probe(url: str) -> str:
    response = requests.get(f"{url}/readyz", timeout=30)
    if response.ok:
        return "200"
    checks = response.json().get("checks", {})
    return f"{response.status_code} " + "; ".join(
        f"{name}: {check['detail']}"[:150] for name, check in checks.items() if not check["ok"]
    )
