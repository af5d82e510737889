from __future__ import annotations

import os
import subprocess
import sys

from tests.processes import ROOT


def _start_django(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("SECRET_KEY", "ENCRYPTION_KEYS", "ALLOWED_HOSTS")
    }
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('started')"],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "project.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_it_refuses_to_start_without_keys_when_debug_is_off() -> None:
    result = _start_django(DEBUG="0", SECRET_KEY="s3cret", ALLOWED_HOSTS="example.com")

    assert result.returncode != 0
    assert "set ENCRYPTION_KEYS" in result.stderr
    assert "refusing to start" in result.stderr


def test_it_starts_when_configured() -> None:
    result = _start_django(
        DEBUG="0",
        SECRET_KEY="s3cret",
        ALLOWED_HOSTS="example.com",
        ENCRYPTION_KEYS="x7rL0Ulh2c3jc6M1d3JXW1dnpzZxQp3Kqn2E3mYkP4A=",
    )

    assert result.returncode == 0, result.stderr
    assert "started" in result.stdout


def test_it_creates_development_keys_under_var(tmp_path: object) -> None:
    result = _start_django(DEBUG="1", VAR_DIR=str(tmp_path))

    assert result.returncode == 0, result.stderr
    assert (tmp_path / "encryption.key").read_text().strip()  # type: ignore[operator]


PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "k" + "x9-Lq2v7Wm4Zr8Tn3Jb6Yh1Pd5Gc0Fs7Ue2Ka9Mw4Rt6Vb3Nz8Qj5Lp1Hy7Dg0Cx",
    "ENCRYPTION_KEYS": "x7rL0Ulh2c3jc6M1d3JXW1dnpzZxQp3Kqn2E3mYkP4A=",
    "ALLOWED_HOSTS": "onboarding.example.com",
}
# What the tests set to serve plain http; production's defaults are what is checked here.
HTTP_ONLY = ("SECURE_SSL_REDIRECT", "SECURE_COOKIES", "SECURE_HSTS_SECONDS")
# Set by the browser tests in this process (Playwright's loop touches the ORM); never deployed.
TEST_ONLY = ("DJANGO_ALLOW_ASYNC_UNSAFE",)


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in HTTP_ONLY + TEST_ONLY}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **PRODUCTION, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_it_passes_the_deployment_checks_on_its_defaults() -> None:
    result = _manage("check", "--deploy", "--fail-level", "WARNING")

    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_it_redirects_plain_http_to_https_but_not_the_probes() -> None:
    script = (
        "from django.test import Client; c = Client(HTTP_HOST='onboarding.example.com');"
        "print(c.get('/onboarding/start/').headers.get('Location'));"
        "print(c.get('/healthz').status_code);"
        "print(c.get('/onboarding/start/', secure=True).headers['Strict-Transport-Security'])"
    )
    result = _manage("shell", "--no-imports", "-c", script)

    assert result.returncode == 0, result.stderr
    location, probe, hsts = result.stdout.split("\n")[:3]
    assert location == "https://onboarding.example.com/onboarding/start/"
    assert probe == "200"
    assert hsts == "max-age=31536000; includeSubDomains"
