"""How fresh a team's data is: the one place that records a refresh and announces it.

Every path that changes a team's imported data (an import finishing, a webhook applied, a
sweep) calls ``note_refresh`` inside its transaction. The team's row says when and by what, and
once the transaction commits the team's group hears which pull requests changed, so an open
overview can show them without asking.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from django.utils import timezone

from sync import progress
from sync.models import Team


class Source(StrEnum):
    IMPORT = "import"
    WEBHOOK = "webhook"
    SWEEP = "sweep"


def note_refresh(*, team_id: int, source: Source, pull_request_ids: Sequence[int] = ()) -> None:
    """Record that ``source`` refreshed the team's data; tell its group after commit."""
    now = timezone.now()
    Team.objects.filter(pk=team_id).update(refreshed_at=now, refreshed_by=source.value)
    message = {
        "type": "team.refreshed",
        "group": progress.team_group(team_id),  # sync.fanout hands it to the group's sockets
        "team_id": team_id,
        "source": source.value,
        "refreshed_at": now.isoformat(),
        "pull_request_ids": list(pull_request_ids),
    }
    progress.send_after_commit(progress.team_group(team_id), message)
