"""Accessibility and layout checks any browser test can run on the page it has open.

``look_at(page, "name")`` checks the page at 1280 and 375 px: no element overflows the viewport
horizontally, nothing floats over the content, axe-core finds no serious or critical violation,
and a screenshot of each width goes to artifacts/screenshots/. ``check_accessibility`` and
``check_fits`` do one part each. axe-core comes from the axe-playwright-python test dependency
(requirements-dev.txt): it is injected into the page under test only, never shipped.

Every page's counts are printed at the end of the run (tests/browser/conftest.py).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page

from tests.conftest import ARTIFACTS

SCREENSHOTS = ARTIFACTS / "screenshots"
WIDTHS = (1280, 375)
IMPACTS = ("critical", "serious", "moderate", "minor")
FORBIDDEN = ("critical", "serious")

# Every page checked in this run: (name, {impact: violations}), printed at the end.
RESULTS: list[tuple[str, dict[str, int]]] = []

_AXE = Axe()
# WCAG 2.1 A and AA, and Deque's best practices.
_OPTIONS = {
    "resultTypes": ["violations"],
    "runOnly": {
        "type": "tag",
        "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"],
    },
}


def check_accessibility(page: Page, name: str) -> dict[str, int]:
    """Run axe-core on the page as it stands; fail on any serious or critical violation."""
    results = _AXE.run(page, options=_OPTIONS)
    violations: list[dict[str, Any]] = results.response["violations"]
    counts = Counter({impact: 0 for impact in IMPACTS})
    for violation in violations:
        counts[violation["impact"] or "minor"] += 1
    found = {impact: counts[impact] for impact in IMPACTS}
    RESULTS.append((name, found))
    print(f"axe {name}: " + ", ".join(f"{n} {impact}" for impact, n in found.items()))
    bad = [v for v in violations if v["impact"] in FORBIDDEN]
    assert not bad, f"{name}: axe-core found\n" + "\n".join(_describe(v) for v in bad)
    return found


def _describe(violation: dict[str, Any]) -> str:
    targets = [" ".join(map(str, node["target"])) for node in violation["nodes"][:5]]
    return f"- {violation['id']} ({violation['impact']}): {violation['help']} at {targets}"


# Elements wider than the viewport, outside any container that scrolls or clips them; boxes
# whose content must be scrolled sideways; elements that float over the content.
_OVERFLOW = """
() => {
  const width = document.documentElement.clientWidth;
  const name = (el) => {
    const classes = typeof el.className === "string" ? el.className.trim().split(/\\s+/) : [];
    return el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
      + classes.filter(Boolean).map((c) => "." + c).join("");
  };
  const contained = (el) => {
    for (let up = el.parentElement; up && up !== document.body; up = up.parentElement) {
      const style = getComputedStyle(up);
      const inside = up.getBoundingClientRect().right <= width + 1;
      if (style.overflowX !== "visible" && inside) return true;
    }
    return false;
  };
  const over = [];
  const floating = [];
  const sideways = [];
  for (const el of document.body.querySelectorAll("*")) {
    const style = getComputedStyle(el);
    if (style.display === "none" || style.visibility === "hidden") continue;
    if (style.position === "fixed" || style.position === "sticky") floating.push(name(el));
    const scrolls = style.overflowX === "auto" || style.overflowX === "scroll";
    if (scrolls && el.scrollWidth > el.clientWidth + 1) {
      const inner = el.firstElementChild ? " > " + name(el.firstElementChild) : "";
      sideways.push(name(el) + inner + " holds " + el.scrollWidth + " px in " + el.clientWidth);
    }
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.height === 0) continue;
    if (box.right <= width + 1 && box.left >= -1) continue;
    const span = Math.round(box.left) + "-" + Math.round(box.right);
    if (!contained(el)) over.push(name(el) + " spans " + span);
  }
  const scrollWidth = document.documentElement.scrollWidth;
  return { width, scrollWidth, over: over.slice(0, 10), floating, sideways };
}
"""


def check_fits(page: Page, name: str) -> None:
    """Fail if anything overflows the viewport horizontally, must be scrolled sideways inside
    the page (a table wider than its box), or floats over the content."""
    found = page.evaluate(_OVERFLOW)
    assert found["scrollWidth"] <= found["width"], f"{name}: the page scrolls sideways: {found}"
    assert not found["over"], f"{name}: wider than the {found['width']} px viewport: {found}"
    assert not found["floating"], f"{name}: floats over the content: {found['floating']}"
    assert not found["sideways"], f"{name}: must be scrolled sideways: {found['sideways']}"


def check_text_fits(page: Page, selector: str) -> None:
    """Fail if a long name breaks onto letter-wide lines instead of truncating with a title."""
    found = page.evaluate(
        """(selector) => Array.from(document.querySelectorAll(selector))
            .filter((el) => el.offsetParent !== null)
            .map((el) => ({ text: el.textContent, title: el.title,
                            lines: Math.round(el.getBoundingClientRect().height
                                   / parseFloat(getComputedStyle(el).lineHeight)) }))""",
        selector,
    )
    assert found, f"nothing shown matches {selector}"
    for each in found:
        assert each["lines"] <= 1, f"{selector} wraps over {each['lines']} lines: {each['text']}"
        assert each["title"] == each["text"].strip(), f"{selector} has no full-name title: {each}"


def look_at(page: Page, name: str, *, widths: tuple[int, ...] = WIDTHS) -> None:
    """At each width: check the layout and accessibility, and take a full-page screenshot."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    height = page.viewport_size["height"] if page.viewport_size else 900
    for width in widths:
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(50)  # one frame for the layout to settle
        # First, so a failing check leaves the picture of what it found.
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)
        check_fits(page, f"{name} at {width} px")
        check_accessibility(page, f"{name} at {width} px")
