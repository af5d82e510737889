from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PINNED = re.compile(r"`(tests/[\w/]+\.py)::(test_\w+)`")


def _tests_in(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}


def test_it_pins_every_listed_deviation_with_a_test_that_exists() -> None:
    text = (ROOT / "sandbox" / "DEVIATIONS.md").read_text()
    entries = [e for e in re.split(r"\n(?=- )", text) if e.startswith("- ")]
    entries.append(text.split("## Where GitHub differs")[1])

    for entry in entries:
        pins = PINNED.findall(entry.replace("\n  ", " "))
        assert pins, f"no pinning test named for: {entry[:80]!r}"
        for path, name in pins:
            assert name in _tests_in(ROOT / path), f"{path}::{name} does not exist"
