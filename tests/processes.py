"""Real processes for tests: a Dramatiq worker and Daphne, pointed at the test database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import psutil
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def child_env(**extra: str) -> dict[str, str]:
    """Return the environment a child process needs to share this run's database and Redis."""
    settings = connection.settings_dict
    if connection.vendor == "postgresql":
        user = quote(settings["USER"] or "postgres", safe="")
        if settings["PASSWORD"]:
            user += ":" + quote(settings["PASSWORD"], safe="")
        url = f"postgres://{user}@{settings['HOST']}:{settings['PORT'] or 5432}/{settings['NAME']}"
    else:
        url = f"sqlite:///{Path(settings['NAME']).resolve()}"
    return dict(os.environ, DATABASE_URL=url, PYTHONUNBUFFERED="1", **extra)


class Process:
    """A child process with its output in a log file, stopped with SIGTERM then SIGKILL."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        log.parent.mkdir(parents=True, exist_ok=True)
        self.log = log
        self._file = log.open("wb")
        self.popen = subprocess.Popen(
            [sys.executable, *args], cwd=ROOT, env=env, stdout=self._file, stderr=subprocess.STDOUT
        )

    def kill(self) -> None:
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(10)

    def kill_tree(self) -> None:
        """SIGKILL the process and every process it forked at once, as a crash would."""
        for child in psutil.Process(self.popen.pid).children(recursive=True):
            child.kill()
        self.kill()

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        self._file.close()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def start_worker(log: Path, *, processes: int = 1, threads: int = 4, **env: str) -> Process:
    """Start `manage.py rundramatiq` as production runs it."""
    args = ["manage.py", "rundramatiq", "--processes", str(processes), "--threads", str(threads)]
    # Poll the queues every 100 ms when idle (Dramatiq's default is 1 s).
    return Process(args, child_env(**{"dramatiq_worker_timeout": "100", **env}), log)


def wait_for(
    predicate: Callable[[], object], *, timeout: float = 20, interval: float = 0.05
) -> object:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")
