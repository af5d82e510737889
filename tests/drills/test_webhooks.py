"""Drill: GitHub's webhooks keep a team fresh, over real processes (Daphne receiving, a
`rundramatiq` worker applying, the sandbox GitHub delivering signed POSTs over HTTP).

A stream of 200 pull-request, review and membership changes is made on the sandbox; for each,
the time from the change to its row in the database is measured (p50/p95/max; the goal is a
p95 within 5 s), and, with the team overview open in Chromium over its socket meanwhile, the
time from the change to the page showing it: a pull request's new title, or its new review
count, in the recent pull requests (the goal is the same p95). Membership changes are timed to
the database only: the overview's member list is drawn with the page, not pushed, and its live
member count counts the rows of members who left too.
Then the same stream with 30% of the deliveries dropped and 5% delivered twice: after one
sweep (which redelivers the failed ones) the database equals the sandbox's truth, with no
duplicate rows.
"""

from __future__ import annotations

import itertools
import statistics
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.db.models import Count
from django.utils import timezone
from playwright.sync_api import Browser, Page

from sandbox.testing import RunningSandbox
from sync import services
from sync.models import (
    PullRequest,
    Review,
    SyncJob,
    Team,
    TeamMember,
    TrackedRepository,
    WebhookDelivery,
)
from sync.sweep import sweep_team
from tests.browser.conftest import signed_in
from tests.browser.servers import DaphneServer
from tests.conftest import ARTIFACTS
from tests.processes import Process, wait_for
from tests.sync.importing import since_of, start_sync_worker, truth_from_db, wait_finished
from tests.sync.webhooking import hooked_team, register

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CHANGES = 200
PACE_S = 0.05  # a change every 50 ms: 20 a second
P95_GOAL_S = 5.0
# Users outside acme in the test world (seed 3): they join and leave during the stream.
NEWCOMERS = ("dave", "erin", "heidi", "ivan", "judy", "niaj", "peggy", "victor")
ALL_HISTORY = timedelta(days=800)
# Members who joined stay while this many others join after them (seconds, at this pace), so
# that each arrival is in the database before its departure replaces it.
STAY = 4
# The worker's threads: applying a delivery mostly waits on GitHub and the database.
THREADS = 8


@pytest.fixture
def sync_worker(request: pytest.FixtureRequest, github: RunningSandbox) -> Iterator[Process]:
    log = ARTIFACTS / "logs" / f"worker-{request.node.name}.log"
    worker = start_sync_worker(log, threads=THREADS, GITHUB_API_URL=github.api_url)
    yield worker
    worker.stop()


@pytest.fixture
def acme(github: RunningSandbox, alice: User, web: DaphneServer, sync_worker: Process) -> Team:
    """acme fully imported, its org hook delivering to Daphne."""
    team = hooked_team(github, alice)
    team.job = services.start_sync(team=team, history_since=timezone.now() - ALL_HISTORY)  # type: ignore[attr-defined]
    wait_finished(team.job, timeout=180)  # type: ignore[attr-defined]
    register(team, web.url)
    github.control.wait_for_deliveries()
    return team


# Records, in the page, when each marker of a change first shows: a recent pull request's
# title, and a recent pull request's review count (epoch milliseconds, as the test's clock).
SHOWN_SCRIPT = """
(() => {
  const shown = (window.__shown = {});
  const note = () => {
    const at = performance.timeOrigin + performance.now();
    for (const row of document.querySelectorAll("#recent-pulls li[data-pr]")) {
      const title = row.querySelector(".recent-title");
      const keys = ["reviews:" + row.dataset.pr + ":" + row.dataset.reviews];
      if (title) keys.push("title:" + title.textContent);
      for (const key of keys) if (!(key in shown)) shown[key] = at;
    }
  };
  const all = {childList: true, subtree: true, characterData: true};
  new MutationObserver(note).observe(document, all);
  document.addEventListener("DOMContentLoaded", note);
})();
"""


@dataclass
class Expectation:
    kind: str  # title, review, joined, left
    key: object
    made_at: float
    seen_at: float | None = None
    made_epoch: float = 0.0
    marker: str = ""  # what the overview shows once the change is in: see SHOWN_SCRIPT


@dataclass
class Watcher:
    """Poll the database for every expected row and note when each appears."""

    team: Team
    pending: list[Expectation] = field(default_factory=list)
    done: list[Expectation] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)

    def expect(self, kind: str, key: object, since: tuple[float, float], marker: str = "") -> None:
        """Expect the change made at ``since`` (monotonic and epoch seconds, taken before
        the call to GitHub that made it)."""
        made = Expectation(kind, key, since[0], made_epoch=since[1], marker=marker)
        with self.lock:
            self.pending.append(made)

    def expectations(self) -> list[Expectation]:
        with self.lock:
            return self.pending + self.done

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                self._check()
                time.sleep(0.02)
            self._check()
        finally:
            connection.close()

    def _check(self) -> None:
        with self.lock:
            waiting = list(self.pending)
        if not waiting:
            return
        titles = dict(
            PullRequest.objects.filter(
                github_id__in=[e.key[0] for e in waiting if e.kind == "title"]  # type: ignore[index]
            ).values_list("github_id", "title")
        )
        reviews = set(
            Review.objects.filter(
                github_id__in=[e.key for e in waiting if e.kind == "review"]
            ).values_list("github_id", flat=True)
        )
        roles = dict(TeamMember.objects.filter(team=self.team).values_list("login", "role"))
        now = time.monotonic()
        for e in waiting:
            seen = _seen(e, titles, reviews, roles)
            if seen:
                e.seen_at = now
                with self.lock:
                    self.pending.remove(e)
                    self.done.append(e)


def _seen(e: Expectation, titles: dict[int, str], reviews: set[int], roles: dict[str, str]) -> bool:
    if e.kind == "title":
        pair: tuple[int, str] = e.key  # type: ignore[assignment]
        return titles.get(pair[0]) == pair[1]
    if e.kind == "review":
        return e.key in reviews
    if e.kind == "joined":
        return bool(roles.get(e.key))  # type: ignore[call-overload]
    return roles.get(e.key) == ""  # type: ignore[call-overload]


def _stream(github: RunningSandbox, team: Team, watcher: Watcher | None, tag: str) -> None:
    """Make CHANGES changes on the sandbox: titles, reviews, members joining and leaving."""
    control = github.control
    repos = [r.full_name.split("/")[1] for r in TrackedRepository.objects.filter(team=team)]
    pulls = list(
        PullRequest.objects.filter(repository__team=team, state=PullRequest.State.OPEN)
        .select_related("repository")
        .order_by("pk")[:40]
    )
    assert repos and len(pulls) >= 10
    reviews = dict(
        PullRequest.objects.filter(pk__in=[p.pk for p in pulls])
        .annotate(n=Count("reviews"))
        .values_list("pk", "n")
    )
    joined: list[str] = []
    newcomers = itertools.cycle(NEWCOMERS)
    for index in range(CHANGES):
        pull = pulls[index % len(pulls)]
        name = pull.repository.full_name.split("/")[1]
        kind = index % 5
        since = time.monotonic(), time.time()
        if kind in (0, 1, 2):
            title = f"{tag} change {index}"
            control.update_pull("acme", name, pull.number, title=title)
            if watcher:
                watcher.expect("title", (pull.github_id, title), since, f"title:{title}")
        elif kind == 3:
            review = control.review_pull("acme", name, pull.number, by="walter", state="COMMENTED")
            reviews[pull.pk] += 1
            if watcher:
                shown = f"reviews:{pull.repository.full_name}#{pull.number}:{reviews[pull.pk]}"
                watcher.expect("review", int(review["id"]), since, shown)
        elif len(joined) >= STAY and index % 10 == 9:
            login = joined.pop(0)
            control.remove_member("acme", login)
            if watcher:
                watcher.expect("left", login, since)
        else:
            login = next(newcomers)
            if login in joined:
                continue
            control.add_member("acme", login)
            joined.append(login)
            if watcher:
                watcher.expect("joined", login, since)
        time.sleep(PACE_S)
    for login in joined:  # everyone who joined leaves again: the org ends as it began
        control.remove_member("acme", login)


def _overview(browser: Browser, web: DaphneServer, user: User, team: Team) -> Page:
    """Open the team overview, its socket connected, recording when each marker shows."""
    page = signed_in(browser, web, user).new_page()
    page.add_init_script(SHOWN_SCRIPT)
    with page.expect_websocket(lambda socket: f"/ws/team/{team.pk}/" in socket.url):
        page.goto(f"{web.url}/onboarding/complete/")
    page.get_by_test_id("recent-pulls").wait_for()
    return page


def _shown_after(page: Page, expectations: list[Expectation]) -> list[float | None]:
    """Return, per expectation with a marker, seconds from its change to the page showing it."""
    shown: dict[str, float] = page.evaluate("window.__shown")
    return [
        shown[e.marker] / 1000 - e.made_epoch if e.marker in shown else None
        for e in expectations
        if e.marker
    ]


def _figures(latencies: list[float]) -> tuple[float, float, float]:
    latencies = sorted(latencies)
    return statistics.median(latencies), latencies[int(len(latencies) * 0.95) - 1], latencies[-1]


def test_it_brings_each_change_into_the_database_within_seconds(
    acme: Team, github: RunningSandbox, browser: Browser, web: DaphneServer, alice: User
) -> None:
    page = _overview(browser, web, alice, acme)
    watcher = Watcher(acme)
    thread = threading.Thread(target=watcher.run, daemon=True)
    thread.start()
    _stream(github, acme, watcher, "live")
    github.control.wait_for_deliveries(60)
    try:
        wait_for(lambda: not watcher.pending, timeout=30, interval=0.2)
    except AssertionError:
        pass  # reported below
    watcher.stop.set()
    thread.join(10)
    expectations = watcher.expectations()
    deadline = time.monotonic() + 10  # the last refreshes reach the page
    while None in _shown_after(page, expectations) and time.monotonic() < deadline:
        page.wait_for_timeout(200)
    on_page = _shown_after(page, expectations)
    page.screenshot(
        path=str(ARTIFACTS / "screenshots" / "webhooks-overview-live-1280.png"), full_page=True
    )
    page.context.close()

    missed = [(e.kind, e.key) for e in watcher.pending]
    assert len(missed) <= CHANGES * 0.02, missed
    latencies = [e.seen_at - e.made_at for e in watcher.done]  # type: ignore[operator]
    p50, p95, slowest = _figures(latencies)
    print(
        f"\nwebhook change -> database row over {len(latencies)} changes: "
        f"p50 {p50:.2f} s, p95 {p95:.2f} s, max {slowest:.2f} s "
        f"(goal: p95 <= {P95_GOAL_S} s); not seen: {len(missed)}"
    )
    shown = [latency for latency in on_page if latency is not None]
    page_p50, page_p95, page_slowest = _figures(shown)
    print(
        f"webhook change -> overview in Chromium over {len(shown)} title and review changes: "
        f"p50 {page_p50:.2f} s, p95 {page_p95:.2f} s, max {page_slowest:.2f} s "
        f"(goal: p95 <= {P95_GOAL_S} s); never shown: {len(on_page) - len(shown)}"
    )
    answered = sorted(d["duration"] for d in github.control.hook_deliveries("acme"))
    print(
        f"Daphne answered GitHub's {len(answered)} deliveries in at most {answered[-1]:.3f} s "
        f"(p50 {statistics.median(answered):.3f} s; GitHub waits 10 s)"
    )
    assert len(latencies) >= CHANGES * 0.9
    assert p95 <= P95_GOAL_S and answered[-1] < 10
    assert len(shown) >= len(on_page) * 0.98, "changes the overview never showed"
    assert page_p95 <= P95_GOAL_S
    assert not WebhookDelivery.objects.filter(status=WebhookDelivery.Status.REFUSED).exists()


def test_it_ends_equal_to_github_after_dropped_and_doubled_deliveries(
    acme: Team, github: RunningSandbox
) -> None:
    control = github.control
    control.set_hook_faults(drop=0.3, duplicate=0.05)
    _stream(github, acme, None, "lossy")
    control.wait_for_deliveries(60)
    faults = control.set_hook_faults(drop=0, duplicate=0)
    assert faults["dropped"] > 30 and faults["duplicated"] > 0
    _settle()
    truth = control.truth("acme", since=since_of(acme.job))  # type: ignore[attr-defined]
    assert truth_from_db(acme) != truth  # the dropped changes are missing

    # One sweep, as the scheduler runs it: it redelivers what GitHub failed to deliver, then
    # syncs whatever still differs.
    started = timezone.now()
    outcome = sweep_team(acme.pk)
    print(f"\none sweep after {faults['dropped']} dropped deliveries: {outcome}")
    control.wait_for_deliveries(60)
    _settle()
    redelivered = WebhookDelivery.objects.filter(received_at__gte=started).count()
    assert redelivered == faults["dropped"]
    for job in SyncJob.objects.filter(team=acme, kind=SyncJob.Kind.SWEEP, created_at__gte=started):
        wait_finished(job, timeout=120)
    assert truth_from_db(acme) == truth, f"redelivered {redelivered}"
    members = {
        login
        for login, role in TeamMember.objects.filter(team=acme).values_list("login", "role")
        if role
    }
    assert members == set(_org_members(github))
    duplicated = WebhookDelivery.objects.filter(duplicates__gt=0).count()
    assert duplicated > 0  # doubled deliveries arrived and were answered, not applied twice


def _settle(timeout: float = 90) -> None:
    """Wait until the worker has applied every recorded delivery."""

    def settled() -> bool:
        return not WebhookDelivery.objects.filter(status=WebhookDelivery.Status.QUEUED).exists()

    wait_for(settled, timeout=timeout, interval=0.2)


def _org_members(github: RunningSandbox) -> list[str]:
    from tests.onboarding.personas import org_members

    return org_members(github, "acme")
