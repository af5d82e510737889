"""Pull-request history over GraphQL, parsed into typed rows at this boundary.

An item GitHub sends malformed (a node that is not an object, a missing id, a bad timestamp)
is skipped and reported in ``skipped``, so one bad item never stops a repository.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sync.github import queries
from sync.github.client import Session, parse_time
from sync.github.errors import RepositoryGone, Transient

GHOST_LOGIN = "ghost"  # GitHub's name for every deleted account

# A page is written only once its follow-ups are in, so a follow-up that fails throws the
# page's earlier answers away. A passing failure of one (5xx, a timeout, a cut body) is tried
# again here first, briefly; the engine's visible retries take over if it persists.
FOLLOW_UP_RETRIES = 2
FOLLOW_UP_PAUSE_S = 0.5


@dataclass(frozen=True, slots=True)
class ReviewData:
    github_id: int
    state: str
    submitted_at: datetime | None
    author_login: str


@dataclass(frozen=True, slots=True)
class CommitData:
    sha: str
    author_login: str
    author_name: str
    authored_at: datetime | None
    additions: int
    deletions: int


@dataclass(slots=True)
class PullRequestData:
    github_id: int
    number: int
    title: str
    state: str  # open, closed, merged
    draft: bool
    author_login: str
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    merged_at: datetime | None
    additions: int
    deletions: int
    changed_files: int
    reviews: list[ReviewData] = field(default_factory=list)
    commits: list[CommitData] = field(default_factory=list)
    reviews_total: int = 0
    commits_total: int = 0
    # Where the nested reviews / commits were cut short (totalCount above what came back).
    reviews_cursor: str | None = None
    commits_cursor: str | None = None


@dataclass(frozen=True, slots=True)
class Skipped:
    item: str  # "PR #12", "review on PR #12", "PR at position 7"
    reason: str


@dataclass(slots=True)
class PullRequestPage:
    total_count: int
    has_next: bool
    end_cursor: str | None
    pulls: list[PullRequestData]
    skipped: list[Skipped]
    cost: int


@dataclass(slots=True)
class TimesPage:
    total_count: int
    has_next: bool
    end_cursor: str | None
    entries: list[tuple[str, datetime]]  # (cursor, updatedAt), newest first
    cost: int


def fetch_pull_requests(
    session: Session,
    *,
    owner: str,
    name: str,
    first: int,
    after: str | None,
    reviews: int = queries.NESTED_REVIEWS,
    commits: int = queries.NESTED_COMMITS,
) -> PullRequestPage:
    """Fetch one page of a repository's pull requests, newest update first, fully nested.

    ``reviews`` and ``commits`` are the nested page sizes; what they cut short is fetched by
    :func:`complete_pull_request`.
    """
    variables = {
        "owner": owner,
        "name": name,
        "first": first,
        "after": after,
        "reviews": reviews,
        "commits": commits,
    }
    data = session.graphql(queries.PULL_REQUESTS_QUERY, variables, cost=queries.page_cost(first))
    connection = _pull_requests(data)
    pulls: list[PullRequestData] = []
    skipped: list[Skipped] = []
    for position, node in enumerate(_list(connection.get("nodes"))):
        try:
            pulls.append(_pull(node, skipped))
        except (KeyError, TypeError, ValueError) as error:
            skipped.append(Skipped(_pull_label(node, position), _reason(error)))
    return PullRequestPage(
        total_count=int(connection.get("totalCount") or 0),
        has_next=bool(_page_info(connection).get("hasNextPage")),
        end_cursor=_page_info(connection).get("endCursor"),
        pulls=pulls,
        skipped=skipped,
        cost=_cost(data),
    )


def fetch_pull_request_times(
    session: Session, *, owner: str, name: str, first: int, after: str | None
) -> TimesPage:
    """Fetch only the update times and cursors of one page of pull requests."""
    variables = {"owner": owner, "name": name, "first": first, "after": after}
    data = session.graphql(queries.PULL_REQUEST_TIMES_QUERY, variables)
    connection = _pull_requests(data)
    entries = []
    for edge in _list(connection.get("edges")):
        try:
            entries.append((str(edge["cursor"]), _time(edge["node"]["updatedAt"])))
        except (KeyError, TypeError, ValueError):
            continue  # a malformed entry only costs us a finer starting point
    return TimesPage(
        total_count=int(connection.get("totalCount") or 0),
        has_next=bool(_page_info(connection).get("hasNextPage")),
        end_cursor=_page_info(connection).get("endCursor"),
        entries=entries,
        cost=_cost(data),
    )


def complete_pull_request(
    session: Session, *, owner: str, name: str, pull: PullRequestData
) -> list[Skipped]:
    """Fetch the reviews and commits a page cut short; return the items skipped."""
    skipped: list[Skipped] = []
    if pull.reviews_cursor:
        pull.reviews.extend(
            _follow(session, owner, name, pull, "reviews", pull.reviews_cursor, skipped)
        )
        pull.reviews_cursor = None
    if pull.commits_cursor:
        pull.commits.extend(
            _follow(session, owner, name, pull, "commits", pull.commits_cursor, skipped)
        )
        pull.commits_cursor = None
    return skipped


def needs_follow_up(pull: PullRequestData) -> bool:
    return bool(pull.reviews_cursor or pull.commits_cursor)


def _follow(
    session: Session,
    owner: str,
    name: str,
    pull: PullRequestData,
    kind: str,
    after: str | None,
    skipped: list[Skipped],
) -> list[Any]:
    query = (
        queries.PULL_REQUEST_REVIEWS_QUERY
        if kind == "reviews"
        else queries.PULL_REQUEST_COMMITS_QUERY
    )
    parse = _review if kind == "reviews" else _commit
    items: list[Any] = []
    while after:
        variables = {"owner": owner, "name": name, "number": pull.number, "after": after}
        data = _follow_up(session, query, variables)
        found = (data.get("repository") or {}).get("pullRequest")
        if not isinstance(found, dict) or not isinstance(found.get(kind), dict):
            raise Transient(f"GitHub sent no {kind} for PR #{pull.number}")
        connection = found[kind]
        items.extend(_items(connection, parse, f"{kind[:-1]} on PR #{pull.number}", skipped))
        info = _page_info(connection)
        after = info.get("endCursor") if info.get("hasNextPage") else None
    return items


def _follow_up(session: Session, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    """Run a follow-up query, trying a passing failure again before giving up the page."""
    for attempt in range(FOLLOW_UP_RETRIES):
        try:
            return session.graphql(query, variables)
        except Transient as error:
            if error.retry_after is not None:
                raise  # a secondary limit or busy slots: come back later, not now
            time.sleep(FOLLOW_UP_PAUSE_S * (attempt + 1))
    return session.graphql(query, variables)


# -- parsing -----------------------------------------------------------------------------------


def _pull(node: Any, skipped: list[Skipped]) -> PullRequestData:
    state = {"OPEN": "open", "CLOSED": "closed", "MERGED": "merged"}[node["state"]]
    label = f"PR #{node['number']}"
    reviews = node.get("reviews") or {"totalCount": 0, "nodes": []}
    commits = node["commits"]
    pull = PullRequestData(
        github_id=int(node["fullDatabaseId"]),
        number=int(node["number"]),
        title=str(node["title"])[:1000],
        state=state,
        draft=bool(node["isDraft"]),
        author_login=_author(node.get("author")),
        created_at=_time(node["createdAt"]),
        updated_at=_time(node["updatedAt"]),
        closed_at=parse_time(node.get("closedAt")),
        merged_at=parse_time(node.get("mergedAt")),
        additions=int(node["additions"]),
        deletions=int(node["deletions"]),
        changed_files=int(node["changedFiles"]),
        reviews_total=int(reviews["totalCount"]),
        commits_total=int(commits["totalCount"]),
        reviews_cursor=_cut_at(reviews),
        commits_cursor=_cut_at(commits),
    )
    pull.reviews = _items(reviews, _review, f"review on {label}", skipped)
    pull.commits = _items(commits, _commit, f"commit on {label}", skipped)
    return pull


def _review(node: Any) -> ReviewData:
    return ReviewData(
        github_id=int(node["fullDatabaseId"]),
        state=str(node["state"]),
        submitted_at=parse_time(node.get("submittedAt")),
        author_login=_author(node.get("author")),
    )


def _commit(node: Any) -> CommitData:
    commit = node["commit"]
    author = commit.get("author") or {}
    sha = str(commit["oid"])
    if len(sha) != 40:
        raise ValueError(f"not a commit id: {sha[:50]!r}")
    return CommitData(
        sha=sha,
        author_login=_login(author.get("user")),
        author_name=str(author.get("name") or "")[:200],
        authored_at=parse_time(commit.get("authoredDate")),
        additions=int(commit.get("additions") or 0),
        deletions=int(commit.get("deletions") or 0),
    )


def _items(connection: Any, parse: Any, label: str, skipped: list[Skipped]) -> list[Any]:
    items = []
    for node in _list(connection.get("nodes")):
        try:
            items.append(parse(node))
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            skipped.append(Skipped(label, _reason(error)))
    return items


def _cut_at(connection: Any) -> str | None:
    """Return the cursor to continue from when the nested list is shorter than its total."""
    returned = len(_list(connection.get("nodes")))
    if int(connection["totalCount"]) <= returned:
        return None
    cursor = _page_info(connection).get("endCursor")
    if not cursor and returned:
        raise ValueError("a cut-short list without a cursor")
    return str(cursor) if cursor else None


def _pull_requests(data: dict[str, Any]) -> dict[str, Any]:
    repository = data.get("repository")
    if repository is None:
        raise RepositoryGone("The repository is gone or no longer visible to this token")
    connection = repository.get("pullRequests") if isinstance(repository, dict) else None
    if not isinstance(connection, dict):
        raise Transient("GitHub sent a page without pull requests")
    return connection


def _page_info(connection: Any) -> dict[str, Any]:
    info = connection.get("pageInfo") if isinstance(connection, dict) else None
    return info if isinstance(info, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _author(actor: Any) -> str:
    # GitHub: a deleted account is `author: null` in GraphQL and the "ghost" user in REST.
    return _login(actor) if actor is not None else GHOST_LOGIN


def _login(actor: Any) -> str:
    if not isinstance(actor, dict):
        return ""  # a deleted account ("ghost") or an email GitHub cannot match
    login = str(actor.get("login") or "")
    if actor.get("__typename") == "Bot" and login and not login.endswith("[bot]"):
        return f"{login}[bot]"  # the login REST, webhooks and git use for the app
    return login


def _time(value: Any) -> datetime:
    parsed = parse_time(value)
    if parsed is None:
        raise ValueError("missing timestamp")
    return parsed


def _cost(data: dict[str, Any]) -> int:
    limit = data.get("rateLimit")
    return int(limit.get("cost") or 0) if isinstance(limit, dict) else 0


def _pull_label(node: Any, position: int) -> str:
    if isinstance(node, dict) and isinstance(node.get("number"), int):
        return f"PR #{node['number']}"
    return f"PR at position {position + 1} of the page"


def _reason(error: Exception) -> str:
    if isinstance(error, KeyError):
        return f"missing field {error.args[0]!r}"
    return f"{type(error).__name__}: {str(error)[:200]}"


def fetch_pull_request(
    session: Session, *, owner: str, name: str, number: int
) -> PullRequestData | None:
    """Fetch one pull request with its reviews and commits (complete); None if GitHub has none."""
    variables = {"owner": owner, "name": name, "number": number}
    data = session.graphql(queries.PULL_REQUEST_QUERY, variables)
    repository = data.get("repository")
    if repository is None:
        raise RepositoryGone("The repository is gone or no longer visible to this token")
    node = repository.get("pullRequest") if isinstance(repository, dict) else None
    if node is None:
        return None
    return _complete(session, owner, name, node)


def fetch_open_pull_requests_by_head(
    session: Session, *, owner: str, name: str, head: str
) -> list[PullRequestData]:
    """Fetch the open pull requests whose head is branch ``head``, complete."""
    variables = {"owner": owner, "name": name, "head": head}
    data = session.graphql(queries.PULL_REQUESTS_BY_HEAD_QUERY, variables)
    connection = _pull_requests(data)
    return [_complete(session, owner, name, node) for node in _list(connection.get("nodes"))]


def _complete(session: Session, owner: str, name: str, node: Any) -> PullRequestData:
    skipped: list[Skipped] = []
    try:
        pull = _pull(node, skipped)
    except (KeyError, TypeError, ValueError) as error:
        raise Transient(f"GitHub sent a malformed pull request: {_reason(error)}") from error
    complete_pull_request(session, owner=owner, name=name, pull=pull)
    return pull
