from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent.parent
NGINX_CONF = ROOT / "deploy" / "nginx.conf"


def _compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_it_runs_every_part_of_the_production_topology() -> None:
    services = _compose()["services"]

    assert set(services) == {
        "postgres",
        "redis",
        "migrate",
        "web",
        "worker",
        "proxy",
        "scheduler",
        "sandbox",
    }
    assert (
        services["web"]["command"][:3] == ["python", "-m", "project.web"]
        and "asgi:application" in services["web"]["command"]
    )
    worker = services["worker"]["command"]
    assert worker[:3] == ["python", "manage.py", "rundramatiq"]
    assert worker[worker.index("--processes") + 1] and worker[worker.index("--threads") + 1]
    assert services["migrate"]["command"] == ["python", "manage.py", "migrate", "--no-input"]
    assert services["sandbox"]["profiles"] == ["demo"]
    assert services["scheduler"]["command"] == ["python", "manage.py", "runscheduler"]


def test_it_checks_health_and_orders_start_up() -> None:
    services = _compose()["services"]

    for name in ("postgres", "redis", "web", "worker", "proxy"):
        assert services[name]["healthcheck"]["test"], name
    # The worker is healthy while its own processes beat (sync.heartbeat's key and member).
    worker_check = " ".join(services["worker"]["healthcheck"]["test"])
    assert ":worker-heartbeats" in worker_check and "socket.gethostname()" in worker_check
    assert services["proxy"]["depends_on"]["web"]["condition"] == "service_healthy"
    for name in ("web", "worker", "scheduler"):
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


def test_it_scales_web_and_worker_behind_one_entry_point() -> None:
    services = _compose()["services"]

    # `docker compose up --scale web=2 --scale worker=3` needs replicas without a fixed name
    # or a host port of their own.
    for name in ("web", "worker"):
        assert "container_name" not in services[name], name
        assert "ports" not in services[name], name
    assert services["web"]["expose"] == ["8000"]
    proxy = services["proxy"]
    assert proxy["image"].startswith("nginx:")  # a stock image, configured from the repository
    assert "build" not in proxy
    assert "./deploy/nginx.conf:/etc/nginx/nginx.conf:ro" in proxy["volumes"]
    assert proxy["ports"] == ["8000:8080"]
    assert "--proxy-headers" in services["web"]["command"]


def _block(text: str, opening: str) -> str:
    """Return the body of the nginx block that starts with ``opening`` (braces balanced)."""
    start = text.index(opening + " {") + len(opening) + 2
    depth, index = 1, start
    while depth:
        depth += {"{": 1, "}": -1}.get(text[index], 0)
        index += 1
    return text[start : index - 1]


def _directives(block: str) -> list[list[str]]:
    """The block's own directives (nested blocks left out), each as its words."""
    flat = re.sub(r"#[^\n]*", "", block)
    while "{" in flat:
        flat = re.sub(r"[^;{}]*\{[^{}]*\}", "", flat)
    return [statement.split() for statement in flat.split(";") if statement.strip()]


def test_it_proxies_sockets_with_upgrade_headers_to_every_web_replica() -> None:
    config = NGINX_CONF.read_text()

    upstream = _directives(_block(config, "upstream web"))
    assert [d[1] for d in upstream if d[0] == "server"] == ["web:8000"]  # every replica's address
    sockets = _directives(_block(config, "location /ws/"))
    assert ["proxy_pass", "http://web"] in sockets
    headers = {d[1]: d[2] for d in sockets if d[0] == "proxy_set_header"}
    # A location that sets any header inherits none: it lists every one it needs.
    assert headers == {
        "Host": "$http_host",  # with its port: a socket's Origin must match it
        "X-Forwarded-For": "$proxy_add_x_forwarded_for",
        "X-Forwarded-Proto": "$forwarded_proto",
        "Upgrade": "$http_upgrade",
        "Connection": "$connection_upgrade",
    }
    assert ["proxy_buffering", "off"] in sockets
    assert ["proxy_read_timeout", "86400s"] in sockets
    upgrade_map = _directives(_block(config, "map $http_upgrade $connection_upgrade"))
    assert ["default", "upgrade"] in upgrade_map
    server = _directives(_block(config, "server"))
    assert ["proxy_http_version", "1.1"] in server  # WebSockets need HTTP/1.1 upstream
    assert ["listen", "8080"] in server
    pages = _directives(_block(config, "location /"))
    assert ["proxy_pass", "http://web"] in pages
    assert {d[1] for d in pages if d[0] == "proxy_set_header"} >= {"Host", "X-Forwarded-Proto"}


def test_it_ships_a_proxy_configuration_nginx_accepts(tmp_path: Path) -> None:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    # Outside compose there is no `web` to resolve: the same file with a local upstream.
    config = tmp_path / "nginx.conf"
    config.write_text(NGINX_CONF.read_text().replace("server web:8000", "server 127.0.0.1:8000"))

    checked = subprocess.run(
        [nginx, "-t", "-c", str(config), "-e", str(tmp_path / "error.log"),
         "-g", f"pid {tmp_path / 'nginx.pid'};"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip

    assert checked.returncode == 0, checked.stderr
    assert "syntax is ok" in checked.stderr
