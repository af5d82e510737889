"""Many users onboarding at once over HTTP, and what the database recorded of their imports.

Each user walks the flow with a ``requests.Session``: the start page, GitHub's Authorize page
(the sandbox's), the callback, the organization, the repository list, then the submit that
starts the import. ``make bench-load`` and the load drill (tests/drills/test_load.py) use it.
"""

from __future__ import annotations

import html
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

CLIENT_ID = "sandbox-client-id"
CLIENT_SECRET = "sandbox-client-secret"  # noqa: S105 -- the sandbox's, public
TIMEOUT_S = 60

_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')
# A row of the picker not imported yet, archived ones included (as "Select all shown" does), so
# that the import is the whole organization's history, GitHub's truth for it.
_PICK = re.compile(
    r'<li class="pick(?: pick-archived)?"><label><input type="checkbox" name="repos" value="(\d+)">'
)
_JOB = re.compile(r"/onboarding/sync/(\d+)/$")


def sandbox_args(*, teams: int, acme_repos: int, acme_prs: int, latency_ms: float) -> list[str]:
    """Return ``python -m sandbox`` arguments for ``teams`` organizations and their users.

    Every user of the sandbox belongs to every organization once the main one is given 75
    members (the others get a third of that, capped at the 24 people of the world), so user
    number i can create team number i. The other organizations hold 3 repositories and 60 pull
    requests each, plus one repository never pushed to; a history of 150 days keeps every pull
    request inside the 180-day import.
    """
    return [
        "--seed", "7", "--orgs", str(teams), "--members", "75",
        "--repos", str(acme_repos), "--prs", str(acme_prs), "--history-days", "150",
        "--latency-ms", str(latency_ms),
    ]  # fmt: skip


def sandbox_users(count: int) -> list[str]:
    """Return ``count`` distinct GitHub logins of the sandbox world."""
    from sandbox.github.world import FIRST_NAMES

    logins = ["mona", *FIRST_NAMES]
    assert count <= len(logins), f"the sandbox world has {len(logins)} users"
    return logins[:count]


def sandbox_orgs(api_url: str, token: str) -> list[str]:
    """Return the organizations of the token's user, in GitHub's order."""
    import requests

    response = requests.get(
        f"{api_url}/user/orgs",
        params={"per_page": 100},
        headers={"Authorization": f"Bearer {token}"},
        timeout=TIMEOUT_S,
    )
    response.raise_for_status()
    return [org["login"] for org in response.json()]


# -- one user's walk through the flow over HTTP ------------------------------------------------


@dataclass
class Onboarding:
    """One team's user, their HTTP session, and what their submit started."""

    login: str
    org: str
    web: str
    github: str
    http: Any = None
    repo_ids: list[int] = field(default_factory=list)
    shell: Any = None  # the repository page, whose form the submit posts
    submitted_at: float = 0.0  # epoch seconds, the same clock the database's timestamps use
    job_id: int = 0
    problem: str = ""

    def sign_in(self) -> None:
        """Continue with GitHub, authorize on GitHub's page as ``login``, come back signed in."""
        import requests

        self.http = requests.Session()
        start = self._get("/onboarding/start/")
        connect = self._post("/onboarding/github/connect/", start, {"next": ""})
        authorize = connect.headers["Location"]
        assert authorize.startswith(self.github), authorize
        page = self.http.get(f"{authorize}&login={self.login}", timeout=TIMEOUT_S)
        assert page.status_code == 200 and self.login in page.text, page.status_code
        fields = {name: html.unescape(value) for name, value in _HIDDEN.findall(page.text)}
        answer = self.http.post(
            f"{self.github}/login/oauth/authorize",
            data={**fields, "authorize": "1"},
            allow_redirects=False,
            timeout=TIMEOUT_S,
        )
        back = urlsplit(answer.headers["Location"])
        callback = self.http.get(
            f"{self.web}{back.path}?{back.query}", allow_redirects=False, timeout=TIMEOUT_S
        )
        assert callback.headers.get("Location", "").endswith("/onboarding/select-org/"), (
            callback.status_code
        )

    def choose_org(self) -> None:
        """Pick the organization on the organizations page; the team is created."""
        page = self._get("/onboarding/select-org/list/")
        assert f"Choose {self.org}</button>" in page.text, f"{self.login} cannot choose {self.org}"
        chosen = self._post("/onboarding/select-org/choose/", page, {"org": self.org})
        assert chosen.headers["Location"].endswith("/onboarding/select-repos/"), chosen.status_code

    def pick_repositories(self) -> None:
        """Load the repository page and its list (as htmx does); keep every choosable one."""
        self.shell = self._get("/onboarding/select-repos/")
        listing = self.http.get(
            f"{self.web}/onboarding/select-repos/list/",
            headers={"HX-Request": "true"},
            timeout=TIMEOUT_S,
        )
        self.repo_ids = [int(found) for found in _PICK.findall(listing.text)]
        assert self.repo_ids, f"{self.org} shows no repository to choose"

    def submit(self) -> None:
        """Import the chosen repositories; the answer leads to the job's progress page."""
        self.submitted_at = time.time()
        done = self._post("/onboarding/select-repos/submit/", self.shell, {"repos": self.repo_ids})
        found = _JOB.search(done.headers.get("Location", ""))
        assert found, f"{self.org}: the submit answered {done.status_code}"
        self.job_id = int(found.group(1))
        progress = self.http.get(f"{self.web}{found.group(0)}", timeout=TIMEOUT_S)
        assert progress.status_code == 200, progress.status_code

    def prepare(self) -> None:
        self.sign_in()
        self.choose_org()
        self.pick_repositories()

    def _get(self, path: str) -> Any:
        response = self.http.get(f"{self.web}{path}", timeout=TIMEOUT_S)
        assert response.status_code == 200, f"GET {path}: {response.status_code}"
        return response

    def _post(self, path: str, page: Any, data: dict[str, Any]) -> Any:
        token = _CSRF.search(page.text)
        assert token, f"no CSRF token on {page.url}"
        return self.http.post(
            f"{self.web}{path}",
            data={"csrfmiddlewaretoken": token.group(1), **data},
            allow_redirects=False,
            timeout=TIMEOUT_S,
        )


def onboard_at_once(
    teams: list[Onboarding], *, ready: Callable[[], None] = lambda: None, lead: int = 0
) -> None:
    """Walk every team's user through the flow in a thread each; all submit together.

    Each thread signs in, chooses its organization and loads its repositories; once all are
    there, ``ready`` runs, the first ``lead`` teams submit, then all the others at once.
    """
    prepared = threading.Barrier(len(teams) + 1)
    go_leads, go_rest = threading.Event(), threading.Event()
    leads_done = [threading.Event() for _ in teams[:lead]]

    def walk(index: int, team: Onboarding) -> None:
        try:
            team.prepare()
        except Exception as error:  # reported below, once every thread has stopped
            team.problem = f"{type(error).__name__}: {error}"
        prepared.wait()
        (go_leads if index < lead else go_rest).wait()
        try:
            if not team.problem:
                team.submit()
        except Exception as error:
            team.problem = f"{type(error).__name__}: {error}"
        finally:
            if index < lead:
                leads_done[index].set()

    threads = [threading.Thread(target=walk, args=pair, daemon=True) for pair in enumerate(teams)]
    for thread in threads:
        thread.start()
    prepared.wait()
    try:
        ready()
        go_leads.set()
        for done in leads_done:
            done.wait(TIMEOUT_S)
    finally:
        go_leads.set()
        go_rest.set()
        for thread in threads:
            thread.join(TIMEOUT_S * 4)
    problems = [f"{team.login}@{team.org}: {team.problem}" for team in teams if team.problem]
    assert not problems, problems


def wait_members_synced(teams: list[Onboarding], timeout: float = 120) -> None:
    """Wait until the member import each chosen organization started has been done."""
    from sync.models import TeamMember

    orgs = {team.org for team in teams}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        synced = TeamMember.objects.filter(team__github_org_login__in=orgs)
        if synced.values("team").distinct().count() == len(orgs):
            return
        time.sleep(0.2)
    raise AssertionError(f"the members of {len(orgs)} organizations were not imported in time")


# -- measuring --------------------------------------------------------------------------------


@dataclass
class TeamTimes:
    """One team's import as the database recorded it, relative to its user's submit."""

    org: str
    status: str
    prs: int
    created_s: float  # submit -> the job row committed by the web process
    first_page_s: float  # submit -> its first page written
    wall_s: float  # submit -> job finished
    submitted_at: float
    finished_at: float


def wait_all_finished(job_ids: list[int], timeout: float) -> None:
    """Wait until every job has ended (any final status)."""
    from sync.models import SyncJob

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        finished = sum(1 for job in SyncJob.objects.filter(pk__in=job_ids) if job.is_finished)
        if finished == len(job_ids):
            return
        time.sleep(0.2)
    raise AssertionError(f"not every job finished within {timeout:.0f} s")


def team_times(teams: list[Onboarding]) -> list[TeamTimes]:
    """Read each team's job and first page from the database."""
    from django.db.models import Min

    from sync.models import RepoSync, SyncJob

    measured = []
    for team in teams:
        job = SyncJob.objects.get(pk=team.job_id)
        first = RepoSync.objects.filter(job=job).aggregate(first=Min("started_at"))["first"]
        finished = job.finished_at.timestamp() if job.finished_at else float("nan")
        first_page = first.timestamp() if first else float("nan")
        measured.append(
            TeamTimes(
                org=team.org,
                status=job.status,
                prs=job.prs_synced,
                created_s=job.created_at.timestamp() - team.submitted_at,
                first_page_s=first_page - team.submitted_at,
                wall_s=finished - team.submitted_at,
                submitted_at=team.submitted_at,
                finished_at=finished,
            )
        )
    return measured


def exact_teams(teams: list[Onboarding], sandbox: Any) -> int:
    """Count the teams whose database equals the sandbox's ground truth (nothing lost/doubled)."""
    from sync.models import SyncJob
    from tests.sync.importing import since_of, truth_from_db

    exact = 0
    for team in teams:
        job = SyncJob.objects.select_related("team").get(pk=team.job_id)
        exact += truth_from_db(job.team) == sandbox.control.truth(team.org, since=since_of(job))
    return exact
