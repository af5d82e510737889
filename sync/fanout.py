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

import redis
import redis.asyncio as aioredis
from channels.layers import get_channel_layer
from django.conf import settings

logger = logging.getLogger(__name__)

# How long the receive loop waits before trying again, at most, once the layer failed.
MAX_RETRY_DELAY_S = 2.0
# How often the process checks that Redis still holds its group memberships (a Redis that
# restarted without its data answers as if nothing happened, and the groups are gone).
MEMORY_CHECK_S = 5.0
MEMORY_TTL_S = 120


class Subscriber(Protocol):
    async def deliver(self, message: dict[str, Any]) -> None:
        """Forward one group message to the socket."""

    async def feed_lost(self) -> None:
        """The channel layer failed: close so the client reconnects and gets a snapshot."""


async def join(group: str, subscriber: Subscriber) -> None:
    """Deliver the group's messages to ``subscriber`` from now on; raise if the layer is down."""
    await _hub().join(group, subscriber)


async def leave(group: str, subscriber: Subscriber) -> None:
    await _hub().leave(group, subscriber)


class _Hub:
    """One channel per process, in every group one of its sockets watches.

    The receive loop never stops. When the layer fails (Redis restarting), updates published
    meanwhile are lost at their publishers, so every socket is closed at once to reconnect and
    read a snapshot from the database; the loop retries with backoff until Redis answers again.
    Groups the closed sockets leave behind are discarded when their next message arrives.
    """

    def __init__(self) -> None:
        self.layer = get_channel_layer()
        self.channel = ""
        self.members: dict[str, set[Subscriber]] = defaultdict(set)
        self.orphans: set[str] = set()  # groups this channel may still be in, with no socket
        self.reader: asyncio.Task[None] | None = None
        self.checker: asyncio.Task[None] | None = None

    async def join(self, group: str, subscriber: Subscriber) -> None:
        if self.reader is None:
            self.channel = await self.layer.new_channel()
            self.reader = asyncio.ensure_future(self._read())
            self.checker = asyncio.ensure_future(self._check_memory())
        self.members[group].add(subscriber)
        try:
            # Every join adds again, which also renews the group's expiry (a day) in the layer.
            await self.layer.group_add(group, self.channel)
        except BaseException:
            self._forget(group, subscriber)
            raise
        self.orphans.discard(group)

    async def leave(self, group: str, subscriber: Subscriber) -> None:
        if subscriber not in self.members.get(group, ()):
            return
        self._forget(group, subscriber)
        if group not in self.members:
            try:
                await self.layer.group_discard(group, self.channel)
            except Exception:
                return  # the layer is down: the group's next message discards it
            self.orphans.discard(group)

    def _forget(self, group: str, subscriber: Subscriber) -> None:
        members = self.members.get(group)
        if members is not None:
            members.discard(subscriber)
            if not members:
                del self.members[group]
                self.orphans.add(group)

    async def _read(self) -> None:
        failures = 0
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except redis.TimeoutError:
                continue  # a blocking pop timed out: what was sent still waits in Redis
            except Exception as error:
                failures += 1
                if failures == 1:
                    logger.warning("progress feed lost (%s); sockets reconnect", error)
                await self._drop_subscribers()
                await asyncio.sleep(min(0.1 * 2**failures, MAX_RETRY_DELAY_S))
                continue
            if failures:
                logger.info("progress feed back after %s failed receives", failures)
                failures = 0
            group = message.get("group", "")
            subscribers = list(self.members.get(group, ()))
            if not subscribers and group in self.orphans:
                await self._discard_orphan(group)
            for subscriber in subscribers:
                await _deliver(subscriber, message)

    async def _check_memory(self) -> None:
        """Close every socket when Redis forgot this process (it restarted without its data).

        A key of this process's own stands for its group memberships: written once, renewed on
        every check. If a check finds it gone, so are the memberships and the updates sent
        meanwhile, and the sockets reconnect to a snapshot and join again.
        """
        client = aioredis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2
        )
        key = f"{settings.REDIS_PREFIX}:fanout:{self.channel}"
        remembered = False
        while True:
            try:
                if not remembered:
                    remembered = bool(await client.set(key, "1", ex=MEMORY_TTL_S))
                elif not await client.set(key, "1", ex=MEMORY_TTL_S, xx=True):
                    logger.warning("redis forgot this process's groups; sockets reconnect")
                    remembered = False
                    await self._drop_subscribers()
                    continue
            except redis.RedisError:
                pass  # Redis is down: the receive loop notices and closes the sockets
            await asyncio.sleep(MEMORY_CHECK_S)

    async def _drop_subscribers(self) -> None:
        """Close every socket: the updates it missed while the layer was down are gone."""
        lost = {subscriber for members in self.members.values() for subscriber in members}
        self.orphans.update(self.members)
        self.members.clear()
        for subscriber in lost:
            try:
                await subscriber.feed_lost()
            except Exception:
                logger.exception("closing a socket of the lost progress feed failed")

    async def _discard_orphan(self, group: str) -> None:
        try:
            await self.layer.group_discard(group, self.channel)
        except Exception:
            return  # still down: the next message for the group tries again
        self.orphans.discard(group)
        if group in self.members:  # a socket joined meanwhile: make sure the channel stays
            await self.layer.group_add(group, self.channel)


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
