"""The scheduler process (`manage.py runscheduler`): one leader among several, a standby that
takes over when the leader dies, the sweep sent on its period. No worker runs here, so the
messages the scheduler sends stay in the queue to be counted."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import dramatiq
import pytest

from tests.conftest import ARTIFACTS
from tests.processes import Process, child_env, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

PERIOD_S = 0.5
LOCK_S = 8  # a released lock is taken over well within it: only a dead leader's lasts it out


def _scheduler(name: str) -> Process:
    env = child_env(
        SWEEP_PERIOD_SECONDS=str(PERIOD_S),
        SWEEP_JITTER_SECONDS="0",
        SCHEDULER_LOCK_SECONDS=str(LOCK_S),
    )
    return Process(["manage.py", "runscheduler"], env, ARTIFACTS / "logs" / f"scheduler-{name}.log")


@pytest.fixture
def schedulers() -> Iterator[list[Process]]:
    dramatiq.get_broker().flush_all()
    started = [_scheduler("a"), _scheduler("b")]
    yield started
    for process in started:
        process.stop()
    dramatiq.get_broker().flush_all()


def _leads(process: Process) -> bool:
    return "scheduler leads" in process.output()


def _sweeps_sent() -> int:
    broker = dramatiq.get_broker()
    stored = broker.client.hvals(f"{broker.namespace}:default.msgs")  # type: ignore[attr-defined]
    return sum(json.loads(raw)["actor_name"] == "sweep_teams" for raw in stored)


def test_it_lets_one_of_two_schedulers_lead_and_the_other_take_over_when_it_dies(
    schedulers: list[Process],
) -> None:
    wait_for(lambda: any(_leads(p) for p in schedulers), timeout=30)
    leader, standby = sorted(schedulers, key=lambda p: not _leads(p))
    wait_for(_sweeps_sent, timeout=10)
    first, started = _sweeps_sent(), time.monotonic()
    time.sleep(4)
    sent = _sweeps_sent() - first
    elapsed = time.monotonic() - started

    assert "standing by" in standby.output() and not _leads(standby)
    # One leader sends one sweep a period; two would send twice as many.
    assert 1 <= sent <= elapsed / PERIOD_S + 2, sent

    leader.kill()  # SIGKILL: its lock is never released, only expires
    killed = time.monotonic()
    wait_for(lambda: _leads(standby), timeout=LOCK_S + 10)
    assert time.monotonic() - killed <= LOCK_S + 5
    before = _sweeps_sent()
    wait_for(lambda: _sweeps_sent() > before, timeout=5)


def test_it_releases_the_lock_when_stopped(schedulers: list[Process]) -> None:
    wait_for(lambda: any(_leads(p) for p in schedulers), timeout=30)
    leader, standby = sorted(schedulers, key=lambda p: not _leads(p))

    leader.stop()  # SIGTERM

    assert "released its lock" in leader.output()
    wait_for(lambda: _leads(standby), timeout=LOCK_S / 2)
