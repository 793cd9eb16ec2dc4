"""The HTML report as users see it: opened in headless chromium, every image loads, no error.

A copy of the tiny run's report gets a probe script at the top of its head that records every
error event (a resource that fails to load, a script error) and console.error call, and after
the load event writes how many images there are and which did not decode; chromium prints the
resulting DOM. The report itself is then screenshotted, whole page, into test-artifacts/.

Needs Debian's chromium: `make test` installs it in CI or with DEBIAN_PACKAGES=1 (as root);
elsewhere this test skips and says so.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from tiny_workflow import ROOT

ARTIFACTS = Path(os.environ.get("DBLEND_TEST_ARTIFACTS", ROOT / "test-artifacts"))
PROBE = """<script>
window.__errors = [];
window.addEventListener("error", (e) => window.__errors.push(
  e.message || "failed to load " + (e.target.src || e.target.href || e.target.tagName).slice(0, 80)
), true);
const originalError = console.error;
console.error = (...args) => { window.__errors.push(args.join(" ")); originalError(...args); };
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const broken = images.filter((i) => !(i.complete && i.naturalWidth > 0)).map((i) => i.alt);
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify({images: images.length, broken, errors: window.__errors});
  document.body.appendChild(out);
});
</script>"""
CONSOLE_ERROR = re.compile(r"^.*(?:Uncaught|Failed to load resource).*$", re.MULTILINE)
"""What chromium's own log says of script errors and failed resources, besides the probe."""


@pytest.fixture(scope="module")
def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("DBLEND_REQUIRE_BROWSER") == "1":
        pytest.fail("DBLEND_REQUIRE_BROWSER=1, but chromium is not installed")
    pytest.skip(
        "chromium not installed: `make test DEBIAN_PACKAGES=1`, run as root on Debian or "
        "Ubuntu, installs it (apt-get install chromium)"
    )


def headless(chromium: str, *args: str) -> subprocess.CompletedProcess:
    command = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr"]
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, timeout=300, check=True
    )


@pytest.mark.slow
def test_report_opens_in_a_browser_with_every_image_loaded(tiny_run, chromium, tmp_path):
    report = tiny_run / "results" / "tiny" / "report" / "report.html"
    page = report.read_text()
    probed = tmp_path / "probed.html"
    probed.write_text(page.replace("<head>", "<head>" + PROBE, 1))
    result = headless(chromium, "--virtual-time-budget=10000", "--dump-dom", probed.as_uri())
    found = re.search(r'<pre id="probe">(.*?)</pre>', result.stdout, re.S)
    assert found, "the probe did not run: " + result.stderr[-2000:]
    probe = json.loads(html.unescape(found.group(1)))
    assert probe["images"] == page.count("<img"), probe
    assert probe["images"] > 0 and probe["broken"] == [], probe
    assert probe["errors"] == [], probe
    assert not CONSOLE_ERROR.findall(result.stderr), CONSOLE_ERROR.findall(result.stderr)

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTIFACTS / "report.png"
    screenshot.unlink(missing_ok=True)
    headless(
        chromium,
        "--hide-scrollbars",
        "--window-size=1280,4000",
        f"--screenshot={screenshot}",
        report.as_uri(),
    )
    assert screenshot.read_bytes()[:4] == b"\x89PNG"
