"""Run the sandbox: ``python -m sandbox --port 0 --seed 1 ...`` (see ``--help``)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence

from sandbox.control import CONTROL_API
from sandbox.github.world import Sizes
from sandbox.jira.service import CONTROL_API as JIRA_CONTROL_API
from sandbox.server import Config, build_server
from sandbox.slack.service import CONTROL_API as SLACK_CONTROL_API

DESCRIPTION = """\
A stand-in for GitHub over real HTTP, for tests, benchmarks and the demo. One host serves
REST at /api/v3, GraphQL at /api/graphql, the OAuth web flow at /login/oauth/authorize and
/login/oauth/access_token, and the control API at /_sandbox. Point PyGithub at it with
Github(base_url="http://HOST:PORT/api/v3", auth=Auth.Token(token)). On start it prints one
line, "sandbox listening on http://HOST:PORT", to stdout.

Jira Cloud and Slack stand-ins run on the same host: Atlassian's authorization server
(auth.atlassian.com) at /atlassian, its API gateway (api.atlassian.com) at /atlassian-api,
and Slack (slack.com: /oauth/v2/authorize, /api/<method>) at /slack.
"""


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line; every option has a default that makes a small demo world."""
    defaults, config = Sizes(), Config()
    parser = argparse.ArgumentParser(
        prog="python -m sandbox",
        description=DESCRIPTION,
        epilog=f"{CONTROL_API}\n{JIRA_CONTROL_API}\n{SLACK_CONTROL_API}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    add("--port", type=int, default=0, help="port to bind; 0 picks a free one (default: 0)")
    add("--seed", type=int, default=1, help="seed of the generated world (default: 1)")
    add("--orgs", type=int, default=defaults.orgs, help="organizations (default: %(default)s)")
    add(
        "--members",
        type=int,
        default=defaults.members,
        help="members of the main org (default: %(default)s)",
    )
    add(
        "--repos",
        type=int,
        default=defaults.repos,
        help="repositories of the main org (default: %(default)s)",
    )
    add(
        "--prs",
        type=int,
        default=defaults.prs,
        help="pull requests across the main org (default: %(default)s)",
    )
    add(
        "--history-days",
        type=int,
        default=defaults.history_days,
        help="days of PR history (default: %(default)s)",
    )
    add(
        "--long-tail",
        type=int,
        default=defaults.long_tail,
        help="repos holding PRs with >100 commits or >50 reviews (default: %(default)s)",
    )
    add("--latency-ms", type=float, default=0.0, help="fixed latency per API answer (default: 0)")
    add(
        "--per-node-ms",
        type=float,
        default=0.0,
        help="extra latency per node returned (default: 0)",
    )
    add(
        "--rest-budget",
        type=int,
        default=5000,
        help="REST requests per hour per user (default: 5000)",
    )
    add(
        "--graphql-budget",
        type=int,
        default=5000,
        help="GraphQL points per hour per user (default: 5000)",
    )
    add("--client-id", default=config.client_id, help="OAuth app client id (default: %(default)s)")
    add(
        "--client-secret",
        default=config.client_secret,
        help="OAuth app client secret (default: %(default)s)",
    )
    add(
        "--app-name",
        default=config.app_name,
        help="OAuth app name on the authorize page (default: %(default)s)",
    )
    add(
        "--callback-url",
        default=config.callback_url,
        help="registered OAuth callback URL; redirect_uri must match its host and port, and "
        "start with its path, as on GitHub (default: %(default)s, the product under make run)",
    )
    add("--log-level", default="WARNING", help="logging level (default: %(default)s)")
    return parser.parse_args(argv)


def config_from(args: argparse.Namespace) -> Config:
    """Build the server config from parsed arguments."""
    sizes = Sizes(
        orgs=args.orgs,
        members=args.members,
        repos=args.repos,
        prs=args.prs,
        history_days=args.history_days,
        long_tail=args.long_tail,
    )
    return Config(
        seed=args.seed,
        sizes=sizes,
        latency_ms=args.latency_ms,
        per_node_ms=args.per_node_ms,
        rest_budget=args.rest_budget,
        graphql_budget=args.graphql_budget,
        client_id=args.client_id,
        client_secret=args.client_secret,
        app_name=args.app_name,
        callback_url=args.callback_url,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until interrupted (SIGINT or SIGTERM)."""
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr)
    server = build_server(None, config_from(args), args.host, args.port)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"sandbox listening on {server.url}", flush=True)
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
