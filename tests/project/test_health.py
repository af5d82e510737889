from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client

from tests.processes import start_worker, wait_for


def test_it_is_alive(client: Client) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_it_is_not_ready_without_a_worker(client: Client) -> None:
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
        response = wait_for(
            lambda: (r := client.get("/readyz")).status_code == 200 and r, timeout=30
        )
    finally:
        worker.stop()

    assert response.json()["checks"]["worker"]["detail"].startswith("last heartbeat")  # type: ignore[union-attr]
