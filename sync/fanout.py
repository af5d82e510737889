"""Hand each group message to this process's sockets, receiving it from the channel layer once.

Channels' idiom puts every socket's own channel in the group. With channels_redis that costs
every socket, for every update, a channel-layer receive (a lock hand-over and two tasks) and,
in channels 4.2+, a thread hop for ``close_old_connections`` before its handler: about a
millisecond per socket, so one Daphne process falls behind at a few hundred sockets watching a
job that changes five times a second. Here each process joins a group once, with one channel,
and delivers what arrives to its sockets in that group directly (the publisher names the group
in the message). A socket still joins and leaves its groups; only the transport is shared.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections import defaultdict
from typing import Any, Protocol

from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)

MAX_RECEIVE_FAILURES = 8  # about 20 s of retries


class Subscriber(Protocol):
    async def deliver(self, message: dict[str, Any]) -> None:
        """Forward one group message to the socket."""

    async def feed_lost(self) -> None:
        """The channel layer failed: close so the client reconnects and gets a snapshot."""


async def join(group: str, subscriber: Subscriber) -> None:
    """Deliver the group's messages to ``subscriber`` from now on."""
    await _hub().join(group, subscriber)


async def leave(group: str, subscriber: Subscriber) -> None:
    await _hub().leave(group, subscriber)


class _Hub:
    def __init__(self) -> None:
        self.layer = get_channel_layer()
        self.channel = ""
        self.members: dict[str, set[Subscriber]] = defaultdict(set)
        self.reader: asyncio.Task[None] | None = None

    async def join(self, group: str, subscriber: Subscriber) -> None:
        if self.reader is None:
            self.channel = await self.layer.new_channel()
            self.reader = asyncio.ensure_future(self._read())
        self.members[group].add(subscriber)
        try:
            # Every join adds again, which also renews the group's expiry (a day) in the layer.
            await self.layer.group_add(group, self.channel)
        except BaseException:
            self.members[group].discard(subscriber)
            raise

    async def leave(self, group: str, subscriber: Subscriber) -> None:
        members = self.members.get(group)
        if members is None:
            return
        members.discard(subscriber)
        if not members:
            del self.members[group]
            await self.layer.group_discard(group, self.channel)

    async def _read(self) -> None:
        failures = 0
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except Exception:
                # Messages wait in Redis (for the layer's expiry), so a retry loses nothing.
                failures += 1
                logger.warning("progress feed: receive failed (%s in a row)", failures)
                if failures >= MAX_RECEIVE_FAILURES:
                    await self._give_up()
                    return
                await asyncio.sleep(min(0.1 * 2**failures, 5))
                continue
            failures = 0
            for subscriber in list(self.members.get(message.get("group", ""), ())):
                await _deliver(subscriber, message)

    async def _give_up(self) -> None:
        logger.error("progress feed lost; closing its sockets so that they reconnect")
        lost = {subscriber for members in self.members.values() for subscriber in members}
        self.members.clear()
        self.reader = None
        for subscriber in lost:
            await subscriber.feed_lost()


async def _deliver(subscriber: Subscriber, message: dict[str, Any]) -> None:
    try:
        await subscriber.deliver(message)
    except Exception:
        logger.exception("forwarding a progress update failed job=%s", message.get("job_id"))


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Hub] = weakref.WeakKeyDictionary()


def _hub() -> _Hub:
    loop = asyncio.get_running_loop()
    if loop not in _hubs:
        _hubs[loop] = _Hub()
    return _hubs[loop]
