"""`graphsync report`: one self-contained HTML page that a headless Chromium renders, charts and all.

The page is made from a real synced warehouse (the simulator over HTTPS), then opened from disk by
Debian's `chromium` (which `make test` installs when it is missing): its DOM after the scripts ran
must hold every chart drawn by plotly, and its screenshot must show them. The page and the screenshot
are kept in tests/artifacts/ (or $GRAPHSYNC_TEST_ARTIFACTS). Without chromium the test fails, unless
GRAPHSYNC_SKIP_BROWSER=1 says to skip it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest

from tests.conftest import start_simulator
from tests.integration import png
from tests.integration.analytics_tenant import add_to_simulator
from tests.integration.helpers import GRAPHSYNC, run_sync
from warehouse import Warehouse
from warehouse.views import VIEW_NAMES

ARTIFACTS = Path(os.environ.get("GRAPHSYNC_TEST_ARTIFACTS", Path(__file__).resolve().parents[1] / "artifacts"))
WIDTH, HEIGHT = 1200, 5600  # tall enough for the whole page
PLOTLY_BLUE = (0x63, 0x6E, 0xFA)  # the colour of plotly's first trace: seen only where a chart was drawn


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("GRAPH_", "GRAPHSYNC_"))}


def report(db: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*GRAPHSYNC, "report", "--db", str(db), "--out", str(out)], env=_env(), cwd=db.parent,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The report of a synced simulator tenant, written into the artifacts folder."""
    tmp = tmp_path_factory.mktemp("report")
    sim = start_simulator(tmp / "sim")
    try:
        add_to_simulator(sim)  # a conversation with a reply, so every chart has something to draw
        db = tmp / "synced.duckdb"
        assert not run_sync(sim, db).failed
    finally:
        sim.stop()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / ".gitignore").write_text("*\n")  # artifacts are for looking at, not for committing
    out = ARTIFACTS / "report.html"
    result = report(db, out)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"wrote {out}\n"
    print(f"\nreport: {out}")
    yield out


class _Links(HTMLParser):
    """Every URL an element of the page would load (src, href, srcset), and the text of its <style>s."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.tags: Counter[str] = Counter()
        self.styles: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] += 1
        self._in_style = tag == "style"
        self.urls += [v or "" for k, v in attrs if k in ("src", "href", "srcset", "data", "poster")]

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.styles.append(data)


def test_report_is_one_self_contained_page(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    links = _Links()
    links.feed(text)
    remote = [u for u in links.urls if u.strip().lower().startswith(("http:", "https:", "//"))]
    assert remote == [], "the page loads nothing from the network"
    assert not any("url(" in style or "@import" in style for style in links.styles)
    assert links.tags["link"] == 0 and links.tags["iframe"] == 0
    assert text.count("plotly.js v") == 1, "plotly.js is inlined exactly once"
    assert "<title>graphsync report: synced.duckdb</title>" in text
    assert "generated " in text and " UTC." in text
    assert "All times are UTC" in text
    for view in VIEW_NAMES:
        assert f"<code>{view}</code>" in text, f"a chart of {view}"
    assert text.count('<div id="chart-') == len(VIEW_NAMES), "every view has rows in the simulated tenant"


def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        if os.environ.get("GRAPHSYNC_SKIP_BROWSER") == "1":
            pytest.skip("chromium is not installed (GRAPHSYNC_SKIP_BROWSER=1)")
        pytest.fail("chromium is not installed: `make test` installs Debian's chromium package "
                    "(apt-get install chromium); set GRAPHSYNC_SKIP_BROWSER=1 to skip this test")
    return found


def browse(page: Path, tmp_path: Path, *what: str) -> subprocess.CompletedProcess:
    # --no-sandbox: Chromium's sandbox refuses to start as root and in many CI containers; the page
    # is our own file. The virtual time budget lets the page's scripts run before the capture.
    command = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
               f"--user-data-dir={tmp_path / 'chromium-profile'}", "--virtual-time-budget=20000",
               f"--window-size={WIDTH},{HEIGHT}", *what, page.as_uri()]
    return subprocess.run(command, capture_output=True, text=True, timeout=180,
                          env={**os.environ, "HOME": str(tmp_path)})


def test_chromium_runs_the_page_and_draws_every_chart(page: Path, tmp_path: Path) -> None:
    result = browse(page, tmp_path, "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    # plotly marks each graph it drew with js-plotly-plot and gives it an <svg class="main-svg">.
    assert dom.count("js-plotly-plot") >= len(VIEW_NAMES), "every chart was drawn by plotly.js"
    assert dom.count('class="main-svg"') >= len(VIEW_NAMES)


def test_chromium_screenshot_shows_the_charts(page: Path, tmp_path: Path) -> None:
    shot = ARTIFACTS / "report.png"
    shot.unlink(missing_ok=True)
    result = browse(page, tmp_path, f"--screenshot={shot}")
    assert result.returncode == 0, result.stderr[-2000:]
    print(f"\nscreenshot: {shot}")
    assert shot.is_file() and png.size(shot) == (WIDTH, HEIGHT)
    colours: Counter[tuple[int, ...]] = Counter()
    for row in png.rows(shot, limit=2000):  # the title and the first charts; decoding is pure Python
        colours.update(pixel[:3] for pixel in row[::2])
    total = sum(colours.values())
    white = colours[(255, 255, 255)]
    assert total - white > total // 20, f"the screenshot is (almost) blank: {white} of {total} pixels white"
    assert colours[PLOTLY_BLUE] > 2000, f"no bars in the screenshot (most common colours {colours.most_common(5)})"


def test_report_of_an_empty_warehouse_says_so(tmp_path: Path) -> None:
    db = tmp_path / "empty.duckdb"
    Warehouse(db).ensure_schema()
    out = tmp_path / "empty.html"
    result = report(db, out)
    assert result.returncode == 0, result.stderr
    text = out.read_text(encoding="utf-8")
    assert text.count("No rows yet.") == len(VIEW_NAMES)
    assert "plotly.js v" not in text, "no chart, no script"


def test_report_errors_are_one_line(tmp_path: Path) -> None:
    missing = report(tmp_path / "none.duckdb", tmp_path / "r.html")
    assert missing.returncode == 1
    assert missing.stderr.startswith("graphsync: error: warehouse ") and missing.stderr.count("\n") == 1
    db = tmp_path / "wh.duckdb"
    Warehouse(db).ensure_schema()
    nowhere = report(db, tmp_path / "no-such-folder" / "r.html")
    assert nowhere.returncode == 1 and nowhere.stderr.count("\n") == 1, nowhere.stderr
    assert "No such file or directory" in nowhere.stderr
    assert not (tmp_path / "r.html").exists()
    foreign = tmp_path / "other.duckdb"  # another program's database: read, never changed
    with duckdb.connect(str(foreign)) as connection:
        connection.execute("CREATE TABLE notes (text VARCHAR)")
    before = foreign.read_bytes()
    refused = report(foreign, tmp_path / "r.html")
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1, refused.stderr
    assert "has no analytics views" in refused.stderr and "graphsync warehouse" in refused.stderr
    assert foreign.read_bytes() == before
