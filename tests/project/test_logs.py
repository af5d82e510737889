from __future__ import annotations

import json
import logging

from project.logs import JsonFormatter, PlainFormatter, bind, redact

TOKEN = "gho_0123456789abcdefghijABCDEFGHIJ012345"


def _record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("sync.engine", logging.INFO, __file__, 1, message, args, None)
    record.__dict__.update(extra)
    return record


def test_it_writes_json_lines_with_bound_ids() -> None:
    with bind(job_id=7, team_id=3):
        line = JsonFormatter().format(_record("page %s done", 2, repository="acme/api"))

    entry = json.loads(line)
    assert entry["message"] == "page 2 done"
    assert (entry["job_id"], entry["team_id"], entry["repository"]) == (7, 3, "acme/api")
    assert entry["level"] == "INFO" and entry["logger"] == "sync.engine"


def test_it_forgets_ids_after_the_block() -> None:
    with bind(job_id=7):
        pass

    assert "job_id" not in json.loads(JsonFormatter().format(_record("idle")))


def test_it_redacts_tokens_in_messages_and_plain_lines() -> None:
    line = JsonFormatter().format(_record("GET /user with %s failed", TOKEN))
    plain = PlainFormatter("%(message)s").format(_record("Authorization: token %s", TOKEN))

    assert TOKEN not in line and "[redacted]" in line
    assert TOKEN not in plain


def test_it_leaves_ordinary_text_alone() -> None:
    assert (
        redact("synced 120 pull requests for acme/api") == "synced 120 pull requests for acme/api"
    )
