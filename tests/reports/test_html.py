"""report.html: self-contained, every plot drawn, and it renders in headless Chromium."""

from __future__ import annotations

import html as html_lib
import re
import subprocess
from pathlib import Path

import pytest

from twinbench.reports import build_reports
from twinbench.reports.build import build
from twinbench.reports.plots import PLOTS
from twinbench.reports.sections import Figure, report_blocks
from twinbench.reports.tables import load_run

CHROMIUM = Path("/usr/bin/chromium")

#: Injected into a copy of the report (the report itself has no scripts): records JS errors and
#: whether every image decoded, into attributes that `--dump-dom` shows.
PROBE = """<script>
window.__errors = [];
window.addEventListener('error', e => window.__errors.push(String(e.message || e.type)), true);
window.addEventListener('load', () => {
  const imgs = Array.from(document.images);
  const ok = imgs.filter(i => i.complete && i.naturalWidth > 0).length;
  document.body.setAttribute('data-probe', ok + '/' + imgs.length + '/' + window.__errors.length);
});
</script>"""


def test_build_reports_writes_self_contained_files(run_dir: Path) -> None:
    md, html = build_reports(run_dir)
    assert md == run_dir / "report.md" and html == run_dir / "report.html"
    page = html.read_text()
    figures = [b for b in report_blocks(load_run(run_dir)) if isinstance(b, Figure)]
    assert {f.kind for f in figures} == set(PLOTS)
    assert page.count('<img class="plot"') == len(figures)
    assert 'class="noplot"' not in page
    assert not re.search(r"(src|href)=\"(https?:)?//", page)
    assert "<script" not in page
    md_text = md.read_text()
    assert build_reports(run_dir) == (md, html)
    assert md.read_text() == md_text  # a pure function of the run directory


def test_build_reports_bad_input(tmp_path: Path) -> None:
    from twinbench.core.errors import RunDirError

    with pytest.raises(RunDirError, match="not found"):
        build_reports(tmp_path / "missing")
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(RunDirError, match="not a run directory"):
        build_reports(tmp_path / "x.txt")


def _chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    base = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--virtual-time-budget=10000"]
    return subprocess.run(base + args, capture_output=True, text=True, timeout=120)


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="headless Chromium not installed (/usr/bin/chromium); "
                    "apt-get install -y chromium")
def test_html_renders_in_chromium(run_dir: Path, tmp_path: Path) -> None:
    _, html = build_reports(run_dir)
    probe = tmp_path / "probe.html"
    probe.write_text(html.read_text().replace("</body>", PROBE + "</body>"))
    dom = _chromium(["--dump-dom", probe.as_uri()], tmp_path / "profile1")
    assert dom.returncode == 0, dom.stderr[-2000:]
    m = re.search(r'data-probe="(\d+)/(\d+)/(\d+)"', dom.stdout)
    assert m, f"probe did not run: {dom.stderr[-2000:]}"
    ok, total, errors = map(int, m.groups())
    assert total == len(PLOTS) * 2 and ok == total and errors == 0
    shot = tmp_path / "report.png"
    res = _chromium([f"--screenshot={shot}", "--window-size=1280,3000", html.as_uri()], tmp_path / "profile2")
    assert res.returncode == 0, res.stderr[-2000:]
    assert shot.stat().st_size > 20_000
    assert "Uncaught" not in res.stderr


def test_html_leads_with_the_summary_and_colours_changes(tmp_path: Path) -> None:
    from reportlib import make_run

    from twinbench.reports.lead import summary_line

    base = make_run(tmp_path)
    cand = make_run(tmp_path, "20261124-140000-bbbbbb", seed=1, slowdown=1.3)
    built = build(cand, baseline=base)
    page = built.report_html.read_text()
    first = page.index('<p class="summary">')
    assert page.index("<h2>Summary</h2>") < first < page.index("<h2>Parity</h2>") < page.index("<h2>Run and machine</h2>")
    assert html_lib.escape(summary_line(built.lead)) in page
    assert '<span class="REGRESSION">REGRESSION</span>' in page
