"""The sync engine: what the actors run. Jobs, pages, windows, writes and progress state.

Nothing here sends a message: each entry point returns the steps (:mod:`sync.engine.steps`)
for the actor to send, so the engine never imports its callers.
"""

from __future__ import annotations

from sync.engine.jobs import finish_job, start_job, sync_team_members
from sync.engine.pages import note_dispatched, sync_page
from sync.engine.state import repo_retrying as page_crashed
from sync.engine.state import start_next_repositories
from sync.engine.steps import FinishJob, SendPage, StartNext, Step, SyncMembers

__all__ = [
    "FinishJob",
    "SendPage",
    "StartNext",
    "Step",
    "SyncMembers",
    "finish_job",
    "note_dispatched",
    "page_crashed",
    "start_job",
    "start_next_repositories",
    "sync_page",
    "sync_team_members",
]
