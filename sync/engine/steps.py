"""What the engine asks its actors to send next: the engine never imports the actors."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SendPage:
    """Sync page ``page`` of a repository sync, after ``delay_ms``."""

    repo_sync_id: int
    page: int
    delay_ms: int = 0


@dataclass(frozen=True)
class StartNext:
    """A repository of the job is done (or the job begins): start the next ones waiting."""

    job_id: int


@dataclass(frozen=True)
class SyncMembers:
    """The members could not be read at the job's start: read them again (with retries)."""

    team_id: int


@dataclass(frozen=True)
class FinishJob:
    """Every repository of the job is done: settle the job's outcome."""

    job_id: int


Step = SendPage | StartNext | SyncMembers | FinishJob
