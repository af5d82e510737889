"""Numbers and durations as the overview writes them."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def thousands(value: int | None) -> str:
    """Write 12345 as "12,345"."""
    return f"{int(value or 0):,}"


@register.filter
def duration(seconds: float | None) -> str:
    """Write a duration in its two largest units: "45 min", "3 h 12 min", "2 days 4 h"."""
    if seconds is None:
        return "—"
    minutes = max(0, round(seconds / 60))
    if minutes < 60:
        return "under a minute" if minutes == 0 else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} days {hours} h" if hours else f"{days} days"


@register.filter
def sized(url: str, size: int) -> str:
    """Ask GitHub's avatar host for an image of ``size`` pixels (its ``s`` parameter)."""
    if not url:
        return ""
    return f"{url}{'&' if '?' in url else '?'}s={int(size)}"
