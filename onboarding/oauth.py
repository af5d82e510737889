"""What every provider's OAuth web flow shares: a single-use state, and reading the callback."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

from django.http import HttpRequest
from django.utils.crypto import constant_time_compare

from onboarding.forms import OAuthCallbackForm

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Callback:
    """A callback's code, or what went wrong: ``state_mismatch``, ``missing_code`` or the
    provider's own error (``access_denied`` when the user cancelled)."""

    code: str = ""
    error: str = ""


def new_state(request: HttpRequest, key: str) -> str:
    """Keep a fresh random state in the session under ``key`` and return it."""
    state = secrets.token_urlsafe(32)
    request.session[key] = state
    return state


def read_callback(request: HttpRequest, key: str, provider: str) -> Callback:
    """Check the callback's state against the session's (single use), then read its answer."""
    expected = request.session.pop(key, None)  # single use, whatever happens next
    form = OAuthCallbackForm(request.GET)
    given = form.cleaned_data["state"] if form.is_valid() else ""
    if not expected or not given or not constant_time_compare(expected, given):
        logger.info("%s callback with a state that does not match", provider)
        return Callback(error="state_mismatch")
    if form.cleaned_data["error"]:
        return Callback(error=form.cleaned_data["error"])
    if not form.cleaned_data["code"]:
        return Callback(error="missing_code")
    return Callback(code=form.cleaned_data["code"])
