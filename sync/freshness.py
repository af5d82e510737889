"""How fresh a team's data is: the one place that records a refresh and announces it.

Every path that changes a team's imported data (an import finishing, a webhook applied, a
sweep) calls ``note_refresh`` inside its transaction. The team's row says when and by what, and
once the transaction commits the team's group hears which pull requests changed, so an open
overview can show them without asking.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from enum import StrEnum

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.utils import timezone

from sync.models import Team
from sync.progress import team_group

logger = logging.getLogger(__name__)


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
        "team_id": team_id,
        "source": source.value,
        "refreshed_at": now.isoformat(),
        "pull_request_ids": list(pull_request_ids),
    }
    transaction.on_commit(lambda: _announce(team_id, message), robust=True)


def _announce(team_id: int, message: dict[str, object]) -> None:
    try:
        async_to_sync(get_channel_layer().group_send)(team_group(team_id), message)
    except Exception:  # a notice: the row above is the truth, a later snapshot shows it
        logger.exception("announcing a refresh failed team=%s", team_id)
