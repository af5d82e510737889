"""The sandbox GitHub's data: accounts, orgs, repositories, pull requests, reviews, commits.

Everything is derived from a seed and a few sizes, so two sandboxes started with the same
arguments hold the same world (timestamps are offsets from the world's ``now``). Pull
requests are generated per repository on first access, so a large world starts instantly.
All access goes through one lock: the HTTP server is threaded and tests mutate the world
while clients read it.
"""

from __future__ import annotations

import base64
import hashlib
import random
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

GHOST_ID = 10137  # GitHub's "ghost" user
DELETED_AUTHOR_SHARE = 5 / 256  # pull requests whose author has since deleted their account
REVIEW_STATES = ("APPROVED", "CHANGES_REQUESTED", "COMMENTED", "DISMISSED")
LANGUAGES = ("Python", "TypeScript", "Go", "Rust", "Java", None)
FIRST_NAMES = (
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
    "mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter",
    "yara", "zoe", "quinn", "uma", "xavier",
)  # fmt: skip
REPO_WORDS = (
    "api", "web", "billing", "auth", "search", "infra", "mobile", "docs", "payments",
    "gateway", "ledger", "notifier", "scheduler", "reports", "ingest", "frontend",
    "backend", "cli", "sdk", "worker", "metrics", "config", "deploy", "assets", "cache",
)  # fmt: skip


def node_id(prefix: str, number: int) -> str:
    """Return an opaque global id in the shape GitHub uses (``PR_kwDO...``)."""
    raw = number.to_bytes(8, "big").lstrip(b"\0") or b"\0"
    return f"{prefix}_kwDO{base64.urlsafe_b64encode(raw).decode().rstrip('=')}"


def utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(microsecond=0)


@dataclass(slots=True)
class Account:
    id: int
    login: str
    type: str  # "User", "Bot" or "Organization"
    name: str | None
    email: str | None
    created_at: datetime

    @property
    def node_id(self) -> str:
        prefix = {"User": "U", "Bot": "BOT", "Organization": "O"}[self.type]
        return node_id(prefix, self.id)


@dataclass(slots=True)
class Commit:
    sha: str
    message: str
    author: Account | None  # None when the commit email matches no GitHub account
    author_name: str
    author_email: str
    authored_at: datetime
    committed_at: datetime
    additions: int
    deletions: int

    @property
    def node_id(self) -> str:
        return node_id("C", int(self.sha[:12], 16))


@dataclass(slots=True)
class Review:
    id: int
    author: Account
    state: str  # APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED
    body: str
    submitted_at: datetime
    commit_sha: str

    @property
    def node_id(self) -> str:
        return node_id("PRR", self.id)


@dataclass(slots=True)
class PullRequest:
    id: int
    number: int
    title: str
    body: str
    author: Account | None  # None: the author deleted their account (GitHub's "ghost")
    draft: bool
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    merged_at: datetime | None
    merged_by: Account | None
    head_ref: str
    base_ref: str
    additions: int
    deletions: int
    changed_files: int
    reviews: list[Review] = field(default_factory=list)
    commits: list[Commit] = field(default_factory=list)
    deleted: bool = False  # removed by GitHub Support: gone from every listing

    @property
    def node_id(self) -> str:
        return node_id("PR", self.id)

    @property
    def state(self) -> str:
        """REST state: ``open`` or ``closed`` (a merged PR is closed)."""
        return "closed" if self.closed_at else "open"

    @property
    def graphql_state(self) -> str:
        if self.merged_at:
            return "MERGED"
        return "CLOSED" if self.closed_at else "OPEN"


@dataclass(slots=True)
class Repo:
    id: int
    owner: Account
    name: str
    description: str | None
    private: bool
    archived: bool
    fork: bool
    language: str | None
    created_at: datetime
    pushed_at: datetime | None  # None: never pushed to (GitHub sends null)
    pr_count: int
    long_tail: bool = False
    deleted: bool = False
    version: int = 0  # bumped on every mutation; keys sort caches and ETags
    _pulls: list[PullRequest] | None = None
    _sorted: dict[tuple[str, bool], tuple[int, list[PullRequest]]] = field(default_factory=dict)

    @property
    def full_name(self) -> str:
        return f"{self.owner.login}/{self.name}"

    @property
    def updated_at(self) -> datetime:
        """When the repository last changed: its last push, or its creation if never pushed."""
        return self.pushed_at or self.created_at

    @property
    def node_id(self) -> str:
        return node_id("R", self.id)


@dataclass(slots=True)
class Org:
    account: Account
    description: str | None
    members: dict[str, str]  # login -> "admin" | "member"
    repos: list[Repo]
    apps: list[str]  # bot logins that author PRs in the org
    # GitHub sends null for what an organization never filled in.
    company: str | None = None
    email: str | None = None
    location: str | None = None


@dataclass(slots=True)
class Token:
    value: str
    login: str
    scopes: tuple[str, ...]
    revoked: bool = False


@dataclass(frozen=True, slots=True)
class Sizes:
    orgs: int = 3
    members: int = 12
    repos: int = 25
    prs: int = 2000
    history_days: int = 730
    long_tail: int = 2


class World:
    """The whole sandbox GitHub state, deterministic from ``seed`` and ``sizes``."""

    def __init__(self, *, seed: int = 1, sizes: Sizes = Sizes(), now: datetime | None = None):
        self.seed = seed
        self.sizes = sizes
        self.now = utc(now or datetime.now(UTC))
        self.lock = threading.RLock()
        self.accounts: dict[str, Account] = {}  # lower-case login -> account
        self.orgs: dict[str, Org] = {}  # lower-case login -> org
        self.repos: dict[str, Repo] = {}  # lower-case full name -> repo
        self.repos_by_id: dict[int, Repo] = {}
        self.tokens: dict[str, Token] = {}
        self.token_salt = str(seed)  # the sandbox changes it on reset, so old tokens die
        self._next_id = 1000
        # GitHub's stand-in for deleted accounts: REST names it; GraphQL sends null instead.
        self.ghost = Account(
            GHOST_ID, "ghost", "User", None, None, datetime(2008, 5, 13, tzinfo=UTC)
        )
        self._build()

    # -- construction -------------------------------------------------------------

    def _id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _account(self, login: str, kind: str, rng: random.Random) -> Account:
        created = self.now - timedelta(days=rng.randint(800, 4000))
        name = None if kind != "User" else login.replace("-", " ").title()
        email = None if kind != "User" else f"{login}@users.example.com"
        account = Account(self._id(), login, kind, name, email, created)
        self.accounts[login.lower()] = account
        return account

    def _build(self) -> None:
        rng = random.Random(self.seed)
        viewer = self._account("mona", "User", rng)
        people = [viewer] + [self._account(n, "User", rng) for n in FIRST_NAMES]
        bots = [self._account(n, "Bot", rng) for n in ("dependabot[bot]", "renovate[bot]")]
        for index in range(self.sizes.orgs):
            self._build_org(index, rng, people, bots)
        for org in list(self.orgs.values())[1:]:
            self._add_never_pushed(org)

    def _add_never_pushed(self, org: Org) -> None:
        # Real organizations hold repositories created and never pushed to (pushed_at: null).
        repo = Repo(
            id=self._id(),
            owner=org.account,
            name="empty",
            description=None,
            private=True,
            archived=False,
            fork=False,
            language=None,
            created_at=self.now - timedelta(days=3),
            pushed_at=None,
            pr_count=0,
        )
        org.repos.append(repo)
        self.repos[repo.full_name.lower()] = repo
        self.repos_by_id[repo.id] = repo

    def _build_org(
        self, index: int, rng: random.Random, people: list[Account], bots: list[Account]
    ) -> None:
        main = index == 0
        login = ["acme", "globex", "initech", "umbrella", "hooli", "stark"][index % 6]
        login = login if index < 6 else f"{login}{index}"
        account = self._account(login, "Organization", rng)
        size = self.sizes.members if main else max(3, self.sizes.members // 3)
        others = rng.sample(people[1:], min(size - 1, len(people) - 1))
        members = {people[0].login: "admin"}
        members.update({p.login: ("admin" if rng.random() < 0.15 else "member") for p in others})
        # Apps open PRs in the org but are never its members (GitHub lists people only).
        repo_count = self.sizes.repos if main else 3
        pr_total = self.sizes.prs if main else 20 * repo_count
        org = Org(
            account, f"The {login} engineering organization", members, [], [b.login for b in bots]
        )
        if main:  # the others never filled these in: GitHub sends null
            org.company, org.location = f"{login.title()} Inc.", "Remote"
            org.email = f"engineering@{login}.example.com"
        else:
            org.description = None
        self.orgs[login.lower()] = org
        weights = [1 / (i + 1) ** 0.8 for i in range(repo_count)]
        counts = _split(pr_total, weights)
        for i in range(repo_count):
            word = REPO_WORDS[i % len(REPO_WORDS)]
            name = word if i < len(REPO_WORDS) else f"{word}-{i // len(REPO_WORDS)}"
            archived = repo_count > 4 and i % 9 == 8
            repo = Repo(
                id=self._id(),
                owner=account,
                name=name,
                description=f"{word.title()} service for {login}",
                private=i % 3 != 0,
                archived=archived,
                fork=repo_count > 4 and i % 11 == 10,
                language=LANGUAGES[i % len(LANGUAGES)],
                created_at=self.now - timedelta(days=self.sizes.history_days + 30 + i),
                pushed_at=self.now - timedelta(hours=rng.randint(1, 24 * (60 if archived else 10))),
                pr_count=counts[i],
                long_tail=main and i < self.sizes.long_tail,
            )
            org.repos.append(repo)
            self.repos[repo.full_name.lower()] = repo
            self.repos_by_id[repo.id] = repo

    # -- lazy pull requests -------------------------------------------------------

    def pulls(self, repo: Repo) -> list[PullRequest]:
        """Return the repository's pull requests by number, generating them on first use."""
        with self.lock:
            if repo._pulls is None:
                repo._pulls = self._generate_pulls(repo)
            return repo._pulls

    def sorted_pulls(self, repo: Repo, key: str, descending: bool) -> list[PullRequest]:
        """Return pull requests ordered by ``created``/``updated`` (cached per repo version)."""
        with self.lock:
            cached = repo._sorted.get((key, descending))
            if cached and cached[0] == repo.version:
                return cached[1]
            attr = {"created": "created_at", "updated": "updated_at"}[key]
            ordered = sorted(
                (pr for pr in self.pulls(repo) if not pr.deleted),
                key=lambda pr: (getattr(pr, attr), pr.number),
                reverse=descending,
            )
            repo._sorted[(key, descending)] = (repo.version, ordered)
            return ordered

    def _generate_pulls(self, repo: Repo) -> list[PullRequest]:
        rng = random.Random(f"{self.seed}:{repo.full_name}")
        org = self.orgs[repo.owner.login.lower()]
        humans = [self.accounts[m.lower()] for m in org.members]
        everyone = humans + [self.accounts[b.lower()] for b in org.apps]
        span = self.sizes.history_days * 86400
        pulls = []
        for number in range(1, repo.pr_count + 1):
            # Older numbers were opened earlier; spread across the history window.
            age = span * (1 - number / (repo.pr_count + 1)) + rng.randint(0, 3600)
            created = self.now - timedelta(seconds=age)
            long_tail = repo.long_tail and number in (repo.pr_count, repo.pr_count - 1)
            pulls.append(
                self._generate_pull(repo, number, created, rng, humans, everyone, long_tail)
            )
        return pulls

    def _generate_pull(
        self,
        repo: Repo,
        number: int,
        created: datetime,
        rng: random.Random,
        humans: list[Account],
        everyone: list[Account],
        long_tail: bool,
    ) -> PullRequest:
        author = rng.choice(everyone)
        open_for = timedelta(hours=rng.randint(1, 24 * 14))
        roll = rng.random()
        closed_at = merged_at = None
        if roll < 0.72:
            merged_at = closed_at = min(created + open_for, self.now)
        elif roll < 0.82:
            closed_at = min(created + open_for, self.now)
        pr = PullRequest(
            id=repo.id * 100_000 + number,
            number=number,
            title=f"{rng.choice(('Add', 'Fix', 'Refactor', 'Remove', 'Bump'))} "
            f"{rng.choice(REPO_WORDS)} {rng.choice(('handling', 'tests', 'docs', 'flow'))}",
            body=f"Closes #{max(1, number - rng.randint(1, 20))}.",
            author=author,
            draft=closed_at is None and rng.random() < 0.25,
            created_at=utc(created),
            updated_at=utc(closed_at or created + timedelta(minutes=rng.randint(5, 600))),
            closed_at=closed_at and utc(closed_at),
            merged_at=merged_at and utc(merged_at),
            merged_by=rng.choice(humans) if merged_at else None,
            head_ref=f"{author.login.split('[')[0]}/change-{number}",
            base_ref="main",
            additions=0,
            deletions=0,
            changed_files=rng.randint(1, 40),
        )
        pr.updated_at = min(pr.updated_at, self.now)
        commit_count = 130 if long_tail and number % 2 == 0 else rng.randint(1, 6)
        review_count = (
            60
            if long_tail and number % 2 == 1
            else rng.choices((0, 1, 2, 3, 4), (2, 4, 3, 2, 1))[0]
        )
        for i in range(commit_count):
            pr.commits.append(self._generate_commit(repo, pr, i, rng, humans))
        pr.additions = sum(c.additions for c in pr.commits)
        pr.deletions = sum(c.deletions for c in pr.commits)
        reviewers = [h for h in humans if h.login != author.login] or humans
        for i in range(review_count):
            submitted = pr.created_at + timedelta(minutes=10 + i * 7 + rng.randint(0, 60))
            pr.reviews.append(
                Review(
                    id=pr.id * 1000 + i,
                    author=rng.choice(reviewers),
                    state=rng.choices(REVIEW_STATES, (5, 2, 3, 1))[0],
                    body=rng.choice(
                        ("", "Looks good.", "A few comments inline.", "Please add a test.")
                    ),
                    submitted_at=utc(min(submitted, pr.updated_at)),
                    commit_sha=pr.commits[-1].sha,
                )
            )
        if _author_deleted(self.seed, repo.full_name, number):
            pr.author = None
        return pr

    def _generate_commit(
        self, repo: Repo, pr: PullRequest, index: int, rng: random.Random, humans: list[Account]
    ) -> Commit:
        seed = f"{self.seed}:{repo.full_name}:{pr.number}:{index}".encode()
        sha = hashlib.sha1(seed, usedforsecurity=False).hexdigest()
        when = utc(
            pr.created_at - timedelta(minutes=rng.randint(1, 600)) + timedelta(seconds=index)
        )
        author = pr.author
        person = (
            author
            if author is not None and author.type == "User" and rng.random() < 0.8
            else rng.choice(humans)
        )
        linked = rng.random() > 0.05  # some commits carry an email GitHub cannot match
        return Commit(
            sha=sha,
            message=f"{rng.choice(('Update', 'Fix', 'Tidy', 'Test'))} {rng.choice(REPO_WORDS)}"
            f" ({index + 1})",
            author=person if linked else None,
            author_name=person.name or person.login,
            author_email=person.email or f"{person.id}+{person.login}@users.noreply.example.com"
            if linked
            else f"{person.login}@laptop.local",
            authored_at=when,
            committed_at=when,
            additions=rng.randint(0, 200),
            deletions=rng.randint(0, 80),
        )

    # -- lookups --------------------------------------------------------------------

    def account(self, login: str) -> Account | None:
        return self.accounts.get(login.lower())

    def org(self, login: str) -> Org | None:
        return self.orgs.get(login.lower())

    def repo(self, owner: str, name: str) -> Repo | None:
        repo = self.repos.get(f"{owner}/{name}".lower())
        return None if repo is None or repo.deleted else repo

    def pull(self, repo: Repo, number: int) -> PullRequest | None:
        pulls = self.pulls(repo)
        pr = pulls[number - 1] if 1 <= number <= len(pulls) else None
        return None if pr is None or pr.deleted else pr

    def orgs_of(self, login: str) -> list[Org]:
        return [o for o in self.orgs.values() if login in o.members]

    # -- tokens ---------------------------------------------------------------------

    def issue_token(self, login: str, scopes: tuple[str, ...] = ("read:org", "repo")) -> Token:
        """Mint a new access token for ``login`` (OAuth exchange or the control API)."""
        with self.lock:
            raw = f"{self.token_salt}:{login}:{len(self.tokens)}".encode()
            value = "gho_" + hashlib.sha256(raw).hexdigest()[:36]
            token = Token(value, login, scopes)
            self.tokens[value] = token
            return token

    def token(self, value: str) -> Token | None:
        token = self.tokens.get(value)
        return None if token is None or token.revoked else token

    # -- mutations (control API) ------------------------------------------------------

    def _touch(self, repo: Repo, pr: PullRequest, *, pushed: bool = False) -> datetime:
        moment = utc(datetime.now(UTC))
        pr.updated_at = max(moment, pr.updated_at + timedelta(seconds=1))
        # GitHub moves a repository's pushedAt on a push only (a merge pushes to the base
        # branch, a force-push to the head); an edit or a review moves the pull request alone.
        if pushed:
            repo.pushed_at = max(repo.updated_at, pr.updated_at)
        repo.version += 1
        return pr.updated_at

    def update_pull(self, repo: Repo, number: int, *, title: str) -> PullRequest:
        with self.lock:
            pr = self._require_pull(repo, number)
            pr.title = title
            self._touch(repo, pr)
            return pr

    def merge_pull(self, repo: Repo, number: int, *, by: str = "mona") -> PullRequest:
        with self.lock:
            pr = self._require_pull(repo, number)
            moment = self._touch(repo, pr, pushed=True)
            pr.closed_at = pr.merged_at = moment
            pr.draft = False
            pr.merged_by = self.accounts[by.lower()]
            return pr

    def review_pull(self, repo: Repo, number: int, *, by: str, state: str = "APPROVED") -> Review:
        with self.lock:
            pr = self._require_pull(repo, number)
            moment = self._touch(repo, pr)
            review = Review(
                id=pr.id * 1000 + len(pr.reviews),
                author=self.accounts[by.lower()],
                state=state,
                body="Reviewed in the sandbox.",
                submitted_at=moment,
                commit_sha=pr.commits[-1].sha,
            )
            pr.reviews.append(review)
            return review

    def force_push(self, repo: Repo, number: int, *, keep: int, add: int = 0) -> PullRequest:
        """Rewrite a PR's branch: keep its first ``keep`` commits, then ``add`` new ones."""
        with self.lock:
            pr = self._require_pull(repo, number)
            moment = self._touch(repo, pr, pushed=True)
            org = self.orgs[repo.owner.login.lower()]
            humans = [self.accounts[m.lower()] for m in org.members]
            rng = random.Random(f"{self.seed}:{repo.full_name}:{number}:push:{repo.version}")
            kept = pr.commits[: max(0, keep)]
            fresh = [
                self._generate_commit(repo, pr, 1000 * repo.version + i, rng, humans)
                for i in range(max(0, add))
            ]
            for commit in fresh:
                commit.authored_at = commit.committed_at = moment
            pr.commits = kept + fresh
            pr.additions = sum(c.additions for c in pr.commits)
            pr.deletions = sum(c.deletions for c in pr.commits)
            return pr

    def delete_pull(self, repo: Repo, number: int) -> PullRequest:
        """Delete a pull request (only GitHub Support can): every lookup then misses it."""
        with self.lock:
            pr = self._require_pull(repo, number)
            pr.deleted = True
            repo.version += 1
            return pr

    def delete_repo(self, owner: str, name: str) -> Repo:
        """Delete a repository: every later lookup answers as if it never existed."""
        with self.lock:
            repo = self.repo(owner, name)
            if repo is None:
                raise KeyError(f"{owner}/{name} does not exist")
            repo.deleted = True
            repo.version += 1
            return repo

    def remove_member(self, org_login: str, login: str) -> Org:
        """Remove ``login`` from the organization, as an owner does under People."""
        with self.lock:
            org = self.org(org_login)
            if org is None or login not in org.members:
                raise KeyError(f"{login} is not a member of {org_login}")
            del org.members[login]
            return org

    def revoke_token(self, value: str) -> Token:
        """Revoke an access token, as a user does under Settings > Applications."""
        with self.lock:
            token = self.tokens.get(value)
            if token is None:
                raise KeyError("no such token")
            token.revoked = True
            return token

    def _require_pull(self, repo: Repo, number: int) -> PullRequest:
        pr = self.pull(repo, number)
        if pr is None:
            raise KeyError(f"{repo.full_name}#{number} does not exist")
        return pr

    # -- ground truth -----------------------------------------------------------------

    def ground_truth(self, org_login: str, *, since: datetime | None = None) -> dict[str, object]:
        """Return counts and a checksum over the org's PRs, reviews and commits.

        ``since`` keeps only PRs updated at or after it (the history window). The checksum
        is built from :func:`truth_lines`, which the project's tests rebuild from their
        database to prove an import is exact.
        """
        with self.lock:
            org = self.orgs[org_login.lower()]
            pulls = [
                (repo, pr)
                for repo in org.repos
                if not repo.deleted
                for pr in self.pulls(repo)
                if not pr.deleted and (since is None or pr.updated_at >= since)
            ]
            lines = truth_lines(
                (repo.id, pr.id, pr.number, pr.graphql_state, pr.merged_at, pr.updated_at,
                 pr.additions, pr.deletions, pr.author.login if pr.author else "ghost",
                 [(r.id, r.state, r.submitted_at, r.author.login) for r in pr.reviews],
                 [(c.sha, c.author.login if c.author else None) for c in pr.commits])
                for repo, pr in pulls
            )  # fmt: skip
            return {
                "pull_requests": len(pulls),
                "reviews": sum(len(pr.reviews) for _, pr in pulls),
                "commits": sum(len(pr.commits) for _, pr in pulls),
                "checksum": hashlib.sha256("\n".join(lines).encode()).hexdigest(),
            }

    def timelines(self, org_login: str) -> list[dict[str, object]]:
        """Return each live PR's timestamps and reviews, as ISO 8601 strings."""
        with self.lock:
            org = self.orgs[org_login.lower()]
            return [
                {
                    "repository": repo.full_name,
                    "number": pr.number,
                    "author": pr.author.login if pr.author else "ghost",
                    "created_at": pr.created_at.isoformat(),
                    "merged_at": pr.merged_at.isoformat() if pr.merged_at else None,
                    "reviews": [
                        {"submitted_at": r.submitted_at.isoformat(), "author": r.author.login}
                        for r in pr.reviews
                    ],
                }
                for repo in org.repos
                if not repo.deleted
                for pr in self.pulls(repo)
                if not pr.deleted
            ]


def _author_deleted(seed: int, full_name: str, number: int) -> bool:
    # Seeded apart from the generator, so the rest of the world stays as it was.
    digest = hashlib.sha256(f"{seed}:{full_name}:{number}:ghost".encode()).digest()
    return digest[0] < DELETED_AUTHOR_SHARE * 256


def is_public_member(org: Org, login: str) -> bool:
    """Tell whether ``login`` publicizes their membership of ``org`` (seeded, stable)."""
    # GitHub hides concealed memberships from outsiders, in REST and GraphQL alike.
    digest = hashlib.sha256(f"{org.account.login}:{login.lower()}".encode()).digest()
    return digest[0] % 2 == 0


TruthRow = tuple[
    int, int, int, str, "datetime | None", datetime, int, int, str,
    list[tuple[int, str, datetime, str]], list[tuple[str, "str | None"]],
]  # fmt: skip


def truth_lines(rows: object) -> list[str]:
    """Render PR rows as sorted canonical lines (shared by the sandbox and the tests).

    Each row: (repo id, PR id, number, state OPEN/CLOSED/MERGED, merged_at, updated_at,
    additions, deletions, author login, [(review id, state, submitted_at, login)],
    [(commit sha, author login or None)]).
    """
    lines = []
    for (
        repo_id,
        pr_id,
        number,
        state,
        merged,
        updated,
        adds,
        dels,
        author,
        reviews,
        commits,
    ) in rows:  # type: ignore[attr-defined]
        lines.append(
            f"pr {repo_id} {pr_id} {number} {state} {_ts(merged)} {_ts(updated)} "
            f"{adds} {dels} {author}"
        )
        lines.extend(f"review {pr_id} {i} {s} {_ts(t)} {who}" for i, s, t, who in reviews)
        lines.extend(f"commit {pr_id} {sha} {who}" for sha, who in commits)
    return sorted(lines)


def _ts(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else "-"


def _split(total: int, weights: list[float]) -> list[int]:
    """Split ``total`` into integer parts proportional to ``weights``."""
    scale = total / sum(weights)
    parts = [int(w * scale) for w in weights]
    for i in range(total - sum(parts)):
        parts[i % len(parts)] += 1
    return parts
