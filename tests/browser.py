"""Headless Chromium for the tests: Debian's ``chromium`` package, driven from its command line.

No Python browser driver: ``--dump-dom`` on a copy of the page into which a small script is
injected reports what the browser rendered, and ``--screenshot`` photographs the original.
Chromium is started so that it fetches nothing: no background, component-update or sync
traffic, and every host name fails to resolve (the reports embed their figures; the CDN
scripts nbconvert links to are not needed to show them).
"""

from __future__ import annotations

import fcntl
import html
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

APT_TIMEOUT = 900  # seconds for each of apt-get update and apt-get install
CHROMIUM_TIMEOUT = 120  # seconds for one page
VIRTUAL_TIME_BUDGET = 5000  # virtual milliseconds the page gets to load before the DOM is dumped
WINDOW_SIZE = "1280,2000"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    f"--window-size={WINDOW_SIZE}",
    f"--virtual-time-budget={VIRTUAL_TIME_BUDGET}",
)

# Runs on load; writes what the browser shows into <pre id="check"> as JSON.
CHECK_SCRIPT = """<script>
window.addEventListener("load", function () {
  function visible(el) {
    var style = getComputedStyle(el);
    return el.getClientRects().length > 0 && style.visibility !== "hidden";
  }
  var headings = Array.prototype.filter.call(document.querySelectorAll("h1, h2, h3"), visible)
    .map(function (h) { return [Number(h.tagName.charAt(1)), h.textContent]; });
  var images = Array.prototype.slice.call(document.images);
  var broken = images.filter(function (img) { return !img.complete || img.naturalWidth === 0; })
    .map(function (img) { return (img.getAttribute("src") || "").slice(0, 80); });
  var pre = document.createElement("pre");
  pre.id = "check";
  pre.textContent = JSON.stringify({headings: headings, images: images.length, broken: broken});
  document.body.appendChild(pre);
});
</script>"""
CHECK_OUTPUT = re.compile(r'<pre id="check">(.*?)</pre>', re.DOTALL)


class ChromiumUnavailable(RuntimeError):
    """Chromium is not installed and could not be installed here (the message says why)."""


def ensure_chromium() -> str:
    """Path of ``chromium``; installs Debian's package with apt-get when missing and we are root."""
    found = shutil.which("chromium")
    if found:
        return found
    if os.geteuid() != 0:
        raise ChromiumUnavailable("chromium is not installed, and installing it needs root (apt-get)")
    if not shutil.which("apt-get"):
        raise ChromiumUnavailable("chromium is not installed, and there is no apt-get to install it")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # Parallel test workers may all get here: one installs, the others wait and then find it.
    with open(Path(tempfile.gettempdir()) / "crm-workbook-chromium-install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = shutil.which("chromium")
        if found:
            return found
        for command in (
            ["apt-get", "update", "-qq"],
            ["apt-get", "install", "-y", "-qq", "-o", "DPkg::Lock::Timeout=300", "chromium"],
        ):
            try:
                result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=APT_TIMEOUT)
            except subprocess.TimeoutExpired:
                raise ChromiumUnavailable(f"{' '.join(command)} took over {APT_TIMEOUT} s") from None
            if result.returncode != 0:
                last = (result.stderr.strip() or result.stdout.strip()).splitlines()[-1:] or [""]
                raise ChromiumUnavailable(f"{' '.join(command)} failed (exit {result.returncode}): {last[0]}")
    found = shutil.which("chromium")
    if not found:
        raise ChromiumUnavailable("apt-get installed chromium, but there is no chromium on PATH")
    return found


def _run_chromium(*args: str) -> subprocess.CompletedProcess:
    """One headless Chromium with a fresh profile; raises with its stderr when it fails."""
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        result = subprocess.run(
            [ensure_chromium(), *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=CHROMIUM_TIMEOUT,
        )
    if result.returncode != 0:
        raise RuntimeError(f"chromium exited {result.returncode}:\n{result.stderr[-3000:]}")
    return result


def normalise(text: str) -> str:
    """Heading text as a reader sees it: no "¶" anchor link, single spaces."""
    return " ".join(text.replace("\N{PILCROW SIGN}", " ").split())


def page_facts(html_path: Path) -> dict:
    """What Chromium shows of a page once loaded.

    ``{"headings": [(level, text), ...], "images": n, "broken": [src, ...]}``: the visible h1-h3
    headings in document order (text normalised), the number of ``<img>`` elements, and the
    start of the ``src`` of every image that did not load.
    """
    html_path = Path(html_path).resolve()
    page = html_path.read_text(encoding="utf-8")
    base = f'<base href="{html.escape(html_path.parent.as_uri())}/">'
    page, found = re.subn(r"<head[^>]*>", lambda m: m.group(0) + base, page, count=1, flags=re.IGNORECASE)
    if not found:
        page = base + page
    page, found = re.subn(r"</body>", lambda m: CHECK_SCRIPT + m.group(0), page, count=1, flags=re.IGNORECASE)
    if not found:
        page += CHECK_SCRIPT
    with tempfile.TemporaryDirectory(prefix="page-facts-") as folder:
        copy = Path(folder) / html_path.name
        copy.write_text(page, encoding="utf-8")
        result = _run_chromium("--dump-dom", copy.as_uri())
    match = CHECK_OUTPUT.search(result.stdout)
    if not match:
        raise AssertionError(f"{html_path.name}: the check script did not run (page never loaded?)")
    facts = json.loads(html.unescape(match.group(1)))
    facts["headings"] = [(level, normalise(text)) for level, text in facts["headings"]]
    return facts


def screenshot(html_path: Path, png_path: Path) -> Path:
    """Save a 1280 x 2000 screenshot of the page to ``png_path``; returns it."""
    png_path = Path(png_path).resolve()
    png_path.unlink(missing_ok=True)
    _run_chromium(f"--screenshot={png_path}", Path(html_path).resolve().as_uri())
    if not png_path.is_file():
        raise AssertionError(f"chromium wrote no screenshot to {png_path}")
    return png_path
