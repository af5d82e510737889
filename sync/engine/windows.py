"""Which pull requests a sync imports: a window of update times per repository.

Pull requests arrive newest update first, so a window ``[since, until]`` is a stopping point
(``since``) and, for "extend history", a range to walk past cheaply (``until``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from sync.models import SyncJob, TrackedRepository

# Re-read a little before the high-water mark: GitHub's update times are per second and a
# PR updated while the last sync ran may sit on either side of it.
OVERLAP = timedelta(minutes=5)


@dataclass(frozen=True)
class Window:
    since: datetime | None
    until: datetime | None


def default_since() -> datetime:
    """Return the start of the default history window (``SYNC_HISTORY_DAYS`` ago)."""
    return timezone.now() - timedelta(days=settings.SYNC_HISTORY_DAYS)


def window_for(
    repository: TrackedRepository,
    *,
    kind: str,
    history_since: datetime | None = None,
    extend_to: datetime | None = None,
    default: datetime | None = None,
) -> Window:
    """Return the window a job of ``kind`` imports for ``repository``.

    ``default`` is the start of the default history window (one instant for a whole job).
    """
    default = default or default_since()
    if kind == SyncJob.Kind.EXTEND:
        assert extend_to is not None
        until = repository.synced_until + OVERLAP if repository.synced_until else None
        return Window(extend_to, until)
    if kind == SyncJob.Kind.FULL:
        return Window(history_since or repository.synced_until or default, None)
    if kind in SyncJob.INCREMENTAL_KINDS and repository.high_water_mark:
        return Window(repository.high_water_mark - OVERLAP, None)
    if kind in SyncJob.INCREMENTAL_KINDS:
        return Window(history_since or repository.synced_until or default, None)
    return Window(history_since or default, None)
