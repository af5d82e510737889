"""Structured logs: JSON lines carrying job, team and repository ids, with secrets redacted.

``with bind(job_id=7, team_id=3):`` attaches ids to every line logged inside the block
(actors bind the ids they were given); ``extra={...}`` on one call works too. In workers,
``ActorLogContext`` adds the actor's name and the message's id to every line of a message.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from dramatiq.middleware import Middleware

CONTEXT_KEYS = ("job_id", "team_id", "repository_id", "repo_id", "repository", "message_id")
_context: contextvars.ContextVar[dict[str, object] | None] = contextvars.ContextVar(
    "log_context", default=None
)

# GitHub token shapes (https://github.blog/engineering/platform-security/behind-githubs-new-authentication-token-formats/),
# Slack tokens, and bearer credentials.
_SECRET = re.compile(
    r"\b(gh[opsur]_[A-Za-z0-9]{20,}|github_pat_\w{20,}|xox[abpr]-[\w-]{10,})|(Bearer|token)\s+[\w.-]{16,}"
)


def redact(text: str) -> str:
    """Replace anything shaped like a token with a placeholder."""
    return _SECRET.sub(lambda m: f"{m.group(2)} [redacted]" if m.group(2) else "[redacted]", text)


@contextmanager
def bind(**ids: object) -> Iterator[None]:
    """Attach ``ids`` to every log line emitted inside the block."""
    token = _context.set({**(_context.get() or {}), **ids})
    try:
        yield
    finally:
        _context.reset(token)


class ActorLogContext(Middleware):
    """Dramatiq middleware: every line logged while a message is handled names its actor and id,
    and the ids its actor's ``log_ids`` option finds from the message's arguments
    (``@dramatiq.actor(log_ids=lambda repo_sync_id, page: {...})``).

    A worker thread handles one message at a time, so the thread keeps the block's token.
    """

    actor_options = {"log_ids"}

    def __init__(self) -> None:
        self._tokens = threading.local()

    def before_process_message(self, broker: Any, message: Any) -> None:
        ids: dict[str, object] = {"actor": message.actor_name, "message_id": message.message_id}
        find_ids = broker.get_actor(message.actor_name).options.get("log_ids")
        if find_ids is not None:
            try:
                ids.update(find_ids(*message.args, **message.kwargs))
            except Exception:  # ids are a courtesy to the reader: never fail a message for them
                logging.getLogger(__name__).exception("no log ids for %s", message.actor_name)
        self._tokens.token = _context.set({**(_context.get() or {}), **ids})

    def after_process_message(self, broker: Any, message: Any, **kwargs: Any) -> None:
        token = getattr(self._tokens, "token", None)
        if token is not None:
            _context.reset(token)
            self._tokens.token = None

    after_skip_message = after_process_message


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        entry.update(_context.get() or {})
        entry.update({key: getattr(record, key) for key in CONTEXT_KEYS if hasattr(record, key)})
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


class PlainFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ids = {
            **(_context.get() or {}),
            **{k: getattr(record, k) for k in CONTEXT_KEYS if hasattr(record, k)},
        }
        suffix = "".join(f" {key}={value}" for key, value in ids.items())
        return redact(super().format(record) + suffix)
