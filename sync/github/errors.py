"""GitHub's failures as the sync sees them: who can fix each, and whether waiting helps."""

from __future__ import annotations

from datetime import datetime


class GitHubError(Exception):
    """GitHub answered with something the sync cannot use."""


class BadCredentials(GitHubError):
    """The token was revoked or never valid (401)."""


class Transient(GitHubError):
    """A failure worth retrying: 5xx, a timeout, a dropped connection, a malformed body."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SecondaryRateLimited(Transient):
    """GitHub's secondary (abuse) limit: come back after ``retry_after`` seconds."""


class Timeout(Transient):
    """GitHub gave up on a query (its 10 s limit) or did not answer in time: ask for less."""


class NotFound(GitHubError):
    """GitHub answered 404/410: the thing does not exist or the token may not see it."""


class RateLimited(GitHubError):
    """The token's primary budget is spent until ``reset_at``."""

    def __init__(self, message: str, *, resource: str, reset_at: datetime) -> None:
        super().__init__(message)
        self.resource = resource
        self.reset_at = reset_at


class RepositoryUnavailable(GitHubError):
    """One repository cannot be read: gone (404/410) or blocked by SAML SSO (403)."""

    code = "repo_unavailable"


class RepositoryGone(RepositoryUnavailable, NotFound):
    code = "repo_gone"


class SSORequired(RepositoryUnavailable):
    code = "sso_required"


class Busy(Transient):
    """Every concurrent-request slot of this token is taken; try again in a moment."""
