"""Locate GitHub's published API descriptions for contract tests.

The project never commits GitHub's spec files (see ``../shared/github/README.md``). Tests take
them from ``../shared/github/`` beside the project root, else from the same published npm
packages unpacked into the ignored ``.cache/github-specs/``. When neither source is at hand
the test fails loudly: a contract test that silently skips proves nothing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = PROJECT_ROOT.parent / "shared" / "github"
CACHE_DIR = PROJECT_ROOT / ".cache" / "github-specs"

# name -> (npm package@version, member inside the packed tarball)
NPM_SOURCES = {
    "rest-openapi.json": ("@octokit/openapi@23.0.2", "package/generated/api.github.com.json"),
    "schema.graphql": ("@octokit/graphql-schema@15.26.1", "package/schema.graphql"),
}


def github_spec_path(name: str) -> Path:
    """Return the path of GitHub's spec file ``name`` ("rest-openapi.json" or "schema.graphql")."""
    if name not in NPM_SOURCES:
        raise ValueError(f"unknown GitHub spec {name!r}; expected one of {sorted(NPM_SOURCES)}")
    shared = SHARED_DIR / name
    if shared.is_file():
        return shared
    cached = CACHE_DIR / name
    if cached.is_file():
        return cached
    try:
        _fetch_from_npm(name, cached)
    except (OSError, subprocess.SubprocessError, tarfile.TarError, KeyError) as error:
        pytest.fail(
            f"GitHub spec {name!r} is unavailable: not at {shared} and fetching "
            f"{NPM_SOURCES[name][0]} from npm failed ({error}). Contract tests cannot run.",
            pytrace=False,
        )
    return cached


def _fetch_from_npm(name: str, target: Path) -> None:
    package, member = NPM_SOURCES[name]
    npm = shutil.which("npm")
    if npm is None:
        raise OSError("npm is not installed")
    with tempfile.TemporaryDirectory() as workdir:
        done = subprocess.run(
            [npm, "pack", package, "--silent"],
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        tarball = Path(workdir) / done.stdout.strip().splitlines()[-1]
        with tarfile.open(tarball) as archive:
            source = archive.extractfile(member)
            if source is None:
                raise KeyError(member)
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_suffix(target.suffix + ".part")
            partial.write_bytes(source.read())
            partial.replace(target)


# Where GitHub sends null although its description types the field as a non-null value: an
# organization that never filled in its company, email or location, and a repository never
# pushed to (``pushed_at``). The contract tests accept exactly these, and nothing else.
GITHUB_NULLS = {
    "organization-full": ("company", "email", "location"),
    "full-repository": ("pushed_at",),
}


def load_openapi_spec(server_url: str) -> dict[str, object]:
    """Return GitHub's REST description, served at ``server_url``, with GitHub's real nulls."""
    spec = json.loads(github_spec_path("rest-openapi.json").read_text())
    spec["servers"] = [{"url": server_url}]
    admit_null_alternatives(spec)
    schemas = spec["components"]["schemas"]
    for schema, fields in GITHUB_NULLS.items():
        for name in fields:
            schemas[schema]["properties"][name]["nullable"] = True
    return spec


def admit_null_alternatives(node: object) -> None:
    """Let ``nullable`` beside ``oneOf`` admit null, as GitHub means it.

    OpenAPI 3.0.3 applies ``nullable`` only together with ``type`` in the same object, so a
    strict validator refuses the ``null`` GitHub sends for e.g. a commit ``author`` whose email
    matches no account (``{"nullable": true, "oneOf": [simple-user, empty-object]}``).
    """
    if isinstance(node, dict):
        if node.get("nullable") and "oneOf" in node and "type" not in node:
            node["oneOf"] = [*node["oneOf"], {"type": "object", "nullable": True, "enum": [None]}]
        for value in node.values():
            admit_null_alternatives(value)
    elif isinstance(node, list):
        for value in node:
            admit_null_alternatives(value)
