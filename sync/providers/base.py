"""The contract of an optional provider's step: connect with OAuth, list, choose.

A provider is one small class (``sync/jira/provider.py``, ``sync/slack/provider.py``) over its
client; :mod:`sync.integrations` runs every step for every provider the same way: the OAuth
exchange, the tokens stored encrypted, a live token for each call (refreshed when the provider
rotates them), a revoked grant marked once, and the choice saved through one status write.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

from sync.access import Action
from sync.fields import Secret
from sync.providers.errors import AccessRevoked

T = TypeVar("T")


class WithToken(Protocol):
    """Run a call with the team's live token (refreshed once, or marked revoked, on refusal)."""

    def __call__(self, call: Callable[[Secret], T], /) -> T: ...


@dataclass(frozen=True)
class Grant:
    """What an OAuth exchange or refresh gave us, in the shape every provider stores."""

    access_token: Secret
    refresh_token: Secret | None
    expires_at: datetime | None
    scopes: tuple[str, ...]
    external_id: str | None = None  # the account it belongs to (a Slack workspace), if fixed
    config: dict[str, object] = field(default_factory=dict)  # facts to keep (workspace name)
    detail: str = ""

    def __repr__(self) -> str:
        return f"Grant(expires_at={self.expires_at!r}, scopes={self.scopes!r})"


@dataclass(frozen=True)
class Chosen:
    """A choice checked against the provider: the config to save and how to describe it."""

    config: dict[str, object]
    external_id: str | None
    detail: str
    announce: bool = False  # tell the new channel of the last import nobody heard of yet


class Provider(ABC):
    """One optional provider: its name, who may connect it, and its steps."""

    name: str  # "jira": the Integration's provider and the step's URL
    label: str  # "Jira"
    action: Action  # what sync.access must permit to connect it and choose
    refreshes = False  # whether access tokens expire and a refresh token renews them

    @abstractmethod
    def authorize_url(self, *, redirect_uri: str, state: str) -> str:
        """Return the provider's consent page for our app."""

    @abstractmethod
    def exchange(self, *, code: str, redirect_uri: str) -> Grant:
        """Trade the callback's code for tokens."""

    def refresh(self, *, refresh_token: str) -> Grant:
        """Trade a refresh token for new tokens; AccessRevoked when the grant is gone."""
        raise AccessRevoked(f"{self.label} tokens are not refreshed.")

    @abstractmethod
    def choices(
        self, *, with_token: WithToken, config: Mapping[str, Any], pick: Mapping[str, Any]
    ) -> Any:
        """Return what the pick page offers (the saved choice marked), for ``pick``'s scope."""

    @abstractmethod
    def choose(
        self,
        *,
        with_token: WithToken,
        config: Mapping[str, Any],
        pick: Mapping[str, Any],
        org: str,
    ) -> Chosen:
        """Check ``pick`` against what the provider lists now; UnknownChoice otherwise."""
