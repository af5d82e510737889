"""`manage.py runscheduler`: the process that sends the reconciliation sweep on its period.

dramatiq-crontab runs the schedule (APScheduler) and renews its Redis lock while it leads;
this command names the lock under ``REDIS_PREFIX`` (so two deployments on one Redis never take
each other's), schedules ``sync.actors.sweep_teams`` every ``SWEEP_PERIOD_SECONDS`` with up to
``SWEEP_JITTER_SECONDS`` of jitter, and waits as a standby while another scheduler leads.
A leader that loses its lock exits, for its supervisor to start it again as a standby.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import redis
from apscheduler.triggers.interval import IntervalTrigger
from django.conf import settings
from dramatiq_crontab import scheduler
from dramatiq_crontab.management.commands.crontab import Command as CrontabCommand

logger = logging.getLogger("sync.scheduler")

LOST_LEAD = 3  # exit status of a leader whose lock another scheduler holds now


class Command(CrontabCommand):  # type: ignore[misc]
    help = "Send the reconciliation sweep every SWEEP_PERIOD_SECONDS; one leader among many."

    def add_arguments(self, parser: Any) -> None:
        pass  # nothing to choose: the schedule comes from settings

    def handle(self, *args: Any, **options: Any) -> None:
        from sync import actors

        period, jitter = settings.SWEEP_PERIOD_SECONDS, settings.SWEEP_JITTER_SECONDS
        scheduler.add_job(
            actors.sweep_teams.send,
            IntervalTrigger(seconds=period, jitter=jitter or None),
            name="sync.sweep_teams",
        )
        lock = redis.Redis.from_url(settings.REDIS_URL).lock(
            f"{settings.REDIS_PREFIX}:scheduler:leader",
            timeout=settings.SCHEDULER_LOCK_SECONDS,
            thread_local=False,
        )
        logger.info("scheduler standing by until it holds the lock")
        lock.acquire(blocking=True)
        logger.info("scheduler leads: sweep every %s s (jitter %s s)", period, jitter)
        self.launch_scheduler(lock, scheduler)  # returns on SIGTERM/SIGINT, or a lost lock
        if not lock.owned():
            logger.error("scheduler lost its lock to another scheduler; exiting as a standby")
            sys.exit(LOST_LEAD)
        lock.release()
        logger.info("scheduler stopped and released its lock")
