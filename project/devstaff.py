"""The demo's staff user: created on the first `make run`, in development only.

``python -m project.devstaff`` prints the password to sign in with at /admin/login/ (kept in
var/demo_staff_password so later starts print it again), or nothing when the user was not made
here. With DEBUG off it refuses: production staff users come from ``manage.py createsuperuser``.
"""

from __future__ import annotations

import os
import secrets
import sys

STAFF_USERNAME = "demo-staff"
PASSWORD_FILE = "demo_staff_password"  # noqa: S105 - a file name


def ensure_demo_staff() -> str:
    """Create the demo staff user once; return its password ("" when it was not made here)."""
    from django.conf import settings
    from django.contrib.auth.models import User

    if not settings.DEBUG:
        raise SystemExit("The demo staff user exists in development only (DEBUG=1).")
    path = settings.VAR_DIR / PASSWORD_FILE
    if User.objects.filter(username=STAFF_USERNAME).exists():
        return path.read_text().strip() if path.exists() else ""
    password = secrets.token_urlsafe(12)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(password)
    path.chmod(0o600)
    User.objects.create_user(STAFF_USERNAME, password=password, is_staff=True)
    return password


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    import django

    django.setup()
    print(ensure_demo_staff())
    sys.stdout.flush()


if __name__ == "__main__":
    main()
