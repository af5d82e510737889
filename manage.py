#!/usr/bin/env python
"""Django's command line. In a checkout with no production settings it runs in development.

Production is recognised by its keys: when none of DEBUG, SECRET_KEY, ENCRYPTION_KEYS and
DATABASE_URL is set, DEBUG defaults to 1 (and says so on stderr), so `manage.py createsuperuser`
works in a bare checkout. With any of them set nothing is assumed, and production still refuses
to start without its keys.
"""

from __future__ import annotations

import os
import sys

PRODUCTION_SIGNS = ("DEBUG", "SECRET_KEY", "ENCRYPTION_KEYS", "DATABASE_URL")


def default_to_development(environ: dict[str, str] | os._Environ[str]) -> bool:
    """Set DEBUG=1 when nothing says this is production; return whether it did."""
    if any(environ.get(name) for name in PRODUCTION_SIGNS):
        return False
    environ["DEBUG"] = "1"
    return True


if __name__ == "__main__":
    if default_to_development(os.environ):
        print(
            "manage.py: no DEBUG, SECRET_KEY, ENCRYPTION_KEYS or DATABASE_URL set: running in "
            "development (DEBUG=1, keys under var/). Set them to run against production.",
            file=sys.stderr,
        )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
