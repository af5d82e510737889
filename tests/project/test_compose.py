from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent.parent


def _compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_it_runs_every_part_of_the_production_topology() -> None:
    services = _compose()["services"]

    assert set(services) == {"postgres", "redis", "migrate", "web", "worker", "sandbox"}
    assert (
        services["web"]["command"][:3] == ["python", "-m", "project.web"]
        and "asgi:application" in services["web"]["command"]
    )
    worker = services["worker"]["command"]
    assert worker[:3] == ["python", "manage.py", "rundramatiq"]
    assert worker[worker.index("--processes") + 1] and worker[worker.index("--threads") + 1]
    assert services["migrate"]["command"] == ["python", "manage.py", "migrate", "--no-input"]
    assert services["sandbox"]["profiles"] == ["demo"]


def test_it_checks_health_and_orders_start_up() -> None:
    services = _compose()["services"]

    for name in ("postgres", "redis", "web"):
        assert services[name]["healthcheck"]["test"], name
    for name in ("web", "worker"):
        assert (
            services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        )
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["migrate"]["depends_on"]["redis"]["condition"] == "service_healthy"


def test_it_keeps_data_in_volumes_and_configuration_in_env() -> None:
    compose = _compose()
    services = compose["services"]

    assert {"postgres-data", "redis-data"} <= set(compose["volumes"])
    for name in ("migrate", "web", "worker"):
        assert services[name]["env_file"] == ".env"
        assert services[name]["environment"]["DATABASE_URL"].startswith("postgres://")
        assert services[name]["environment"]["REDIS_URL"].startswith("redis://")


def test_it_builds_an_image_that_runs_as_a_non_root_user() -> None:
    lines = (ROOT / "Dockerfile").read_text().splitlines()

    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    assert any("collectstatic" in line for line in lines)
