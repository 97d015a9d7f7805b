"""axe-core (tests/a11y, from the npm registry) run inside real Chromium on a page.

The pages' CSP allows no inline script, so axe is not added as a <script>: its source is
evaluated in the page by Playwright (which the CSP does not govern), then `axe.run(document)`.
Only serious and critical violations fail a test (colour contrast is one: serious)."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page

AXE = Path(__file__).resolve().parents[1] / "a11y" / "node_modules" / "axe-core" / "axe.min.js"

_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations
    .filter(v => v.impact === "serious" || v.impact === "critical")
    .map(v => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.slice(0, 6).map(n =>
        n.target.join(" ") + " :: " + (n.failureSummary || "").replace(/\\s+/g, " ").slice(0, 260)),
    }));
}"""


def serious_violations(page: Page) -> list[str]:
    """What axe finds serious or critical on the page as it is now, one line per node."""
    if not AXE.exists():
        raise AssertionError(f"{AXE} is missing: run `npm ci --prefix tests/a11y` (make test does)")
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text())
    lines = []
    for violation in page.evaluate(_RUN):
        for node in violation["nodes"]:
            lines.append(f"{violation['impact']} {violation['id']} ({violation['help']}): {node}")
    return lines
