"""Is the progress page telling the truth? Record every frame a job's socket sends, then judge.

Shared by the drill (``tests/drills/test_progress_truth.py``) and the benchmark
(``make bench-truth``). A frame is judged by what a user sees in it, against what the import
turned out to be:
- the percent never decreases;
- no frame shows 95% or more while a repository still has pages left;
- each frame's percent is within 10 points of the PRs stored at that frame over the PRs at
  the end;
- once a quarter of the work is done, the time left shown is within 35% (or 20 s, whichever
  is larger) of the time that really remained.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from websockets.sync.client import connect
from websockets.typing import Origin

PERCENT_ERROR_MAX = 10
ETA_RATIO_MAX = 0.35
ETA_SLACK_S = 20.0
ETA_AFTER = 0.25
LAST_STRETCH = 95

_PERCENT = re.compile(r'data-testid="percent">(\d+)%<')
_SYNCED = re.compile(r'data-testid="prs-synced">([\d,]+)<')  # with thousands separators
_ETA = re.compile(r'data-testid="eta">([^<]+)<')
_CONDITION = re.compile(r'data-condition="([a-z_]+)"')
_VERSION = re.compile(r'id="sync-status"[^>]*data-version="(\d+)"')
_OPEN_ROW = re.compile(r'class="repo repo-(queued|running|waiting|retrying)"')
_MINUTES = re.compile(r"About (?:(\d+) h ?)?(?:(\d+) min)? ?left")


@dataclass(frozen=True)
class Frame:
    at: float  # time.monotonic() when it arrived
    version: int
    condition: str
    percent: int | None  # None while the page says it is counting
    synced: int
    eta: str
    open_repos: int


def parse(html: str, at: float) -> Frame | None:
    """Read what a user sees in one frame of the progress page, or None for another fragment."""
    condition, synced = _CONDITION.search(html), _SYNCED.search(html)
    if condition is None or synced is None:
        return None
    percent, eta, version = _PERCENT.search(html), _ETA.search(html), _VERSION.search(html)
    return Frame(
        at=at,
        version=int(version.group(1)) if version else -1,
        condition=condition.group(1),
        percent=int(percent.group(1)) if percent else None,
        synced=int(synced.group(1).replace(",", "")),
        eta=eta.group(1) if eta else "",
        open_repos=len(_OPEN_ROW.findall(html)),
    )


def eta_bounds(text: str) -> tuple[float, float] | None:
    """Return the seconds an ETA text can honestly mean, or None for no estimate."""
    if text.startswith("Less than a minute"):
        return (0.0, 60.0)
    match = _MINUTES.match(text)
    if match is None or not any(match.groups()):
        return None
    minutes = int(match.group(1) or 0) * 60 + int(match.group(2) or 0)
    slack = 0.5 if minutes <= 10 else 2.5  # "about N min" rounds to 1 min, then to 5
    return ((minutes - slack) * 60, (minutes + slack) * 60)


class Recorder:
    """Read a job's progress socket in a thread, keeping every frame until the job is over."""

    FINISHED = ("succeeded", "partial", "failed", "cancelled")

    def __init__(self, ws_url: str, *, session_id: str, origin: str) -> None:
        self.frames: list[Frame] = []
        self.closed = threading.Event()
        self._socket = connect(
            ws_url,
            origin=Origin(origin),
            additional_headers={"Cookie": f"sessionid={session_id}"},
            max_size=None,
        )
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            while True:
                html = str(self._socket.recv(timeout=600))
                frame = parse(html, time.monotonic())
                if frame is not None:
                    self.frames.append(frame)
                    if frame.condition in self.FINISHED:
                        return
        except Exception:  # noqa: S110 - closed or timed out: the frames so far are the record
            pass
        finally:
            self.closed.set()

    def wait_finished(self, timeout: float) -> list[Frame]:
        if not self.closed.wait(timeout):
            raise TimeoutError(f"the job did not finish within {timeout} s")
        self._socket.close()
        return self.frames


@dataclass
class Judgement:
    frames: int
    final_prs: int
    max_percent_error: float = 0.0
    max_eta_error: float | None = None  # relative, over the frames after a quarter
    eta_frames: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def honest(self) -> bool:
        return not self.problems


def judge(frames: list[Frame]) -> Judgement:
    """Judge a finished job's frames by the rules in this module's docstring."""
    final = frames[-1]
    verdict = Judgement(frames=len(frames), final_prs=final.synced)
    if final.percent != 100 and final.condition == "succeeded":
        verdict.problems.append(f"the finished job shows {final.percent}%")
    shown = 0
    for frame in frames:
        if frame.percent is None:
            if shown:
                verdict.problems.append(f"v{frame.version}: counting again after {shown}%")
            continue
        if frame.percent < shown:
            verdict.problems.append(f"v{frame.version}: {frame.percent}% after {shown}%")
        shown = max(shown, frame.percent)
        if frame.percent >= LAST_STRETCH and frame.open_repos:
            verdict.problems.append(
                f"v{frame.version}: {frame.percent}% with {frame.open_repos} repositories open"
            )
        _judge_percent(verdict, frame, final)
        _judge_eta(verdict, frame, final)
    return verdict


def _judge_percent(verdict: Judgement, frame: Frame, final: Frame) -> None:
    if not final.synced or frame.percent is None:
        return
    error = abs(frame.percent - 100 * frame.synced / final.synced)
    verdict.max_percent_error = max(verdict.max_percent_error, error)
    if error > PERCENT_ERROR_MAX:
        verdict.problems.append(
            f"v{frame.version}: {frame.percent}% with {frame.synced} of {final.synced} PRs"
        )


def _judge_eta(verdict: Judgement, frame: Frame, final: Frame) -> None:
    bounds = eta_bounds(frame.eta)
    if bounds is None or not final.synced or frame.synced < ETA_AFTER * final.synced:
        return
    actual = max(0.0, final.at - frame.at)
    low, high = bounds
    error = 0.0 if low <= actual <= high else min(abs(actual - low), abs(actual - high))
    allowed = max(ETA_RATIO_MAX * actual, ETA_SLACK_S)
    verdict.eta_frames += 1
    relative = error / actual if actual else 0.0
    verdict.max_eta_error = max(verdict.max_eta_error or 0.0, relative)
    if error > allowed:
        verdict.problems.append(f"v{frame.version}: '{frame.eta}' with {actual:.0f} s really left")


def describe(verdict: Judgement) -> dict[str, Any]:
    return {
        "frames": verdict.frames,
        "prs": verdict.final_prs,
        "max_percent_error": round(verdict.max_percent_error, 1),
        "max_eta_error": None if verdict.max_eta_error is None else round(verdict.max_eta_error, 2),
        "eta_frames_judged": verdict.eta_frames,
        "problems": verdict.problems[:10],
    }
