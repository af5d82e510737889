"""Structured logs: JSON lines carrying job, team and repository ids, with secrets redacted.

``with bind(job_id=7, team_id=3):`` attaches ids to every line logged inside the block
(actors bind the ids they were given); ``extra={...}`` on one call works too.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

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
