"""GitHub webhooks: receive, verify and record deliveries; apply them; register the hook.

- ``receiver``: the one entry for a delivery (verify, de-duplicate, record, enqueue).
- ``events``: what the worker does with an accepted delivery, through the import's write path.
- ``registration``: the organization hook (create with an owner's token, redeliver failures).
- ``health``: what the staff page and the overview show about the hook.
"""

from __future__ import annotations

from sync.webhooks.health import WebhookHealth, health
from sync.webhooks.registration import redeliver_failed

__all__ = ["WebhookHealth", "health", "redeliver_failed"]
