"""The number of pull requests in each repository's import window, before the import starts.

The import walks pull requests newest update first and stops past its window, so GitHub's
``totalCount`` (every PR the repository ever had) says nothing about its size. Search does:
``repo:OWNER/NAME is:pr updated:>=SINCE`` (with ``..UNTIL`` for a bounded window) counts
exactly the pull requests the walk will meet. One query sizes ``COUNT_BATCH`` repositories for
one point, with a second search each for a job's recent window (``count_recent``): GitHub
charges a search one request, and 50 requests still round to one point. GitHub: https://docs.github.com/search-github/searching-on-github/searching-issues-and-pull-requests
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sync.github import queries
from sync.github.client import Session


@dataclass(frozen=True)
class Window:
    """One repository's import window: PRs updated in [since, until] (None: open-ended)."""

    full_name: str
    since: datetime | None
    until: datetime | None


def count_pull_requests(session: Session, windows: list[Window]) -> list[int | None]:
    """Return each window's number of pull requests (None where GitHub gave no count)."""
    return _count_searches(session, [[window] for window in windows])


def count_recent(
    session: Session, windows: list[Window], line: datetime
) -> list[tuple[int | None, int | None]]:
    """Return each window's number of pull requests and the number updated since ``line``.

    Both searches of a repository go in the same query (aliases ``c2i`` and ``c2i+1``).
    """
    recent = [
        Window(w.full_name, max(w.since, line) if w.since else line, w.until) for w in windows
    ]
    found = _count_searches(session, [[w, r] for w, r in zip(windows, recent, strict=True)])
    return [(found[2 * i], found[2 * i + 1]) for i in range(len(windows))]


def _count_searches(session: Session, groups: list[list[Window]]) -> list[int | None]:
    # A query holds the searches of ``COUNT_BATCH`` repositories, in order.
    counts: list[int | None] = []
    for start in range(0, len(groups), queries.COUNT_BATCH):
        batch = [
            window for group in groups[start : start + queries.COUNT_BATCH] for window in group
        ]
        variables = {f"q{i}": search_terms(window) for i, window in enumerate(batch)}
        data = session.graphql(queries.count_query(len(batch)), variables)
        counts += [_count(data.get(f"c{i}")) for i in range(len(batch))]
    return counts


def search_terms(window: Window) -> str:
    """Return the search that finds the pull requests of ``window``."""
    terms = f"repo:{window.full_name} is:pr"
    if window.since and window.until:
        return f"{terms} updated:{_stamp(window.since)}..{_stamp(window.until)}"
    if window.since:
        return f"{terms} updated:>={_stamp(window.since)}"
    if window.until:
        return f"{terms} updated:<={_stamp(window.until)}"
    return terms


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _count(found: object) -> int | None:
    value = found.get("issueCount") if isinstance(found, dict) else None
    return value if isinstance(value, int) and value >= 0 else None
