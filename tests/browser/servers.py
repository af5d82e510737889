"""Daphne in a subprocess on this run's database and Redis (pytest-django's live_server cannot
serve WebSockets); used by the browser tests and the progress benchmark."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import requests

from tests.processes import Process, child_env, wait_for


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class DaphneServer:
    """`daphne asgi:application` as production runs it; restartable on the same port."""

    def __init__(self, log_dir: Path, **env: str) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_dir = log_dir
        self.env = child_env(**env)
        self.env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # the server keeps Django's guard
        self.starts = 0
        self.process: Process | None = None

    def start(self) -> None:
        self.starts += 1
        log = self.log_dir / f"daphne-{self.starts}.log"
        args = ["-m", "project.web", "-b", "127.0.0.1", "-p", str(self.port), "asgi:application"]
        if profile := os.environ.get("DAPHNE_PROFILE"):  # a cProfile dump, for benchmarks
            args = ["-m", "cProfile", "-o", profile, *args]
        self.process = Process(args, self.env, log)
        try:
            wait_for(self._answers, timeout=30, interval=0.1)
        except AssertionError:
            self.stop()  # a server that never answered must not outlive the test
            raise

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None

    def _answers(self) -> bool:
        assert self.process is not None and self.process.popen.poll() is None, "daphne died"
        try:
            return requests.get(f"{self.url}/onboarding/start/", timeout=3).status_code < 500
        except requests.RequestException:
            return False
