"""The rendered report in a real browser: headless Chromium loads it, every image decodes and
the console shows no errors. A screenshot is saved beside the report."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
from collections import Counter
from html import unescape as html_unescape
from pathlib import Path

import pytest
from workflow_helpers import ci_run

# Runs a whole workflow (the shared CI run is made by whichever test asks first): 30 min.
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(1800)]

# Injected first into a copy of the page: records script errors and console.error calls, then
# after `load` writes what it saw (and whether each image decoded) into the DOM for --dump-dom.
PROBE = """<script>
window.__errors = [];
window.addEventListener('error', e => window.__errors.push('error: ' + String(e.message || e.target.src || e.type).slice(0, 120)), true);
const __ce = console.error; console.error = (...a) => { window.__errors.push('console.error: ' + a.join(' ')); __ce(...a); };
window.addEventListener('load', () => {
  // At `load` every image has been fetched and decoded, or failed (naturalWidth 0).
  const imgs = Array.from(document.images);
  imgs.filter(i => !(i.complete && i.naturalWidth > 0)).forEach(i => window.__errors.push('undecodable image: ' + i.alt));
  // Every in-page link (provenance records, experiments) lands on an element.
  const links = Array.from(document.querySelectorAll('a[href^="#"]'));
  links.filter(a => !document.getElementById(a.getAttribute('href').slice(1))).forEach(a => window.__errors.push('dangling link: ' + a.getAttribute('href')));
  // What a reader sees: the votes tables and summary rows as rendered text.
  const votes = Array.from(document.querySelectorAll('table.votes-table')).map(t => Array.from(t.rows).slice(1).map(r => Array.from(r.cells).map(c => c.textContent.trim())));
  const summary = Array.from(document.querySelectorAll('table.summary-table')).map(t => Array.from(t.rows).map(r => Array.from(r.cells).map(c => c.textContent.trim())));
  const rowsOf = t => Array.from(t.rows).map(r => Array.from(r.cells).map(c => c.textContent.trim()));
  const analyses = {};
  ['trajectory-table', 'halting-table', 'ids-table', 'ensemble-table', 'adapt-table', 'paired-table', 'claims-table', 'sweep-table', 'manifest-table'].forEach(c => { analyses[c] = Array.from(document.querySelectorAll('table.' + c)).map(rowsOf); });
  // Tables that run off the page at this window's width, and the sections in order.
  const width = document.documentElement.clientWidth;
  const wide = Array.from(document.querySelectorAll('table')).filter(t => t.getBoundingClientRect().right > width + 1).map(t => t.className + ': ' + Math.round(t.getBoundingClientRect().right) + ' px');
  const h2 = Array.from(document.querySelectorAll('h2')).map(h => h.textContent.trim());
  const out = document.createElement('pre'); out.id = '__probe';
  out.textContent = JSON.stringify({images: imgs.length, decoded: imgs.filter(i => i.complete && i.naturalWidth > 0).length, errors: window.__errors, links: links.length, votes: votes, summary: summary, analyses: analyses, width: width, scroll_width: document.documentElement.scrollWidth, wide: wide, h2: h2, text: document.body.innerText});
  document.body.appendChild(out);
});
</script>"""


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    return None


@pytest.fixture(scope="module")
def chromium() -> str:
    path = _chromium()
    if path is None:
        if os.environ.get("TRM_REQUIRE_CHROMIUM"):
            pytest.fail("TRM_REQUIRE_CHROMIUM is set but no chromium binary is on PATH")
        pytest.skip(
            "headless Chromium is not installed (apt-get install chromium); .ci/run installs it"
        )
    return path


def _run(chromium: str, *args: str) -> subprocess.CompletedProcess:
    base = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-dev-shm-usage",
        "--enable-logging=stderr",
        "--v=0",
    ]
    return subprocess.run([*base, *args], capture_output=True, text=True, timeout=120)


def _probe(chromium: str, page: Path, *args: str) -> tuple[dict, subprocess.CompletedProcess]:
    proc = _run(chromium, *args, "--virtual-time-budget=10000", "--dump-dom", page.as_uri())
    m = re.search(r'<pre id="__probe">(.*?)</pre>', proc.stdout, re.S)
    assert m, f"probe did not run; chromium stderr:\n{proc.stderr[-3000:]}"
    return json.loads(html_unescape(m.group(1))), proc


def test_report_opens_in_chromium(chromium, tmp_path):
    run_dir = ci_run("local")
    report = run_dir / "reports/report.html"
    html = report.read_text()
    n_images = len(re.findall(r"<img ", html))
    assert n_images >= 4  # sweep, votes, two training panels (two bench points: tables only)
    probe_page = tmp_path / "probe.html"
    probe_page.write_text(html.replace("<head>", "<head>\n" + PROBE, 1))
    result, proc = _probe(chromium, probe_page)
    assert result["errors"] == [], result["errors"]
    assert result["links"] > 10
    assert result["images"] == n_images and result["decoded"] == n_images, result["errors"]
    _check_what_the_page_says(run_dir, result)
    console = [ln for ln in proc.stderr.splitlines() if "CONSOLE" in ln and "probe" not in ln]
    assert not console, console
    # A reader on an 800 px wide window: every table fits the page (none runs off its edge).
    narrow, _ = _probe(chromium, probe_page, "--window-size=800,3000")
    assert narrow["width"] <= 800 and narrow["wide"] == [], narrow["wide"]
    assert narrow["scroll_width"] <= narrow["width"]

    # The page itself, unmodified: a screenshot for a person to look at.
    shot = run_dir / "reports/report-screenshot.png"
    proc = _run(chromium, "--window-size=1280,4000", f"--screenshot={shot}", report.as_uri())
    assert shot.exists() and shot.stat().st_size > 10_000, proc.stderr[-2000:]
    assert shot.read_bytes().startswith(b"\x89PNG")
    if out := os.environ.get("TRM_ARTIFACTS_DIR"):
        Path(out).mkdir(parents=True, exist_ok=True)
        shutil.copy2(shot, Path(out) / "report-screenshot.png")
    print(f"screenshot: {shot}")


def _check_what_the_page_says(run_dir: Path, page: dict) -> None:
    """The rendered page against the files the workflow wrote (test-ci: two smoke runs)."""
    text = page["text"]
    _check_the_ledger(run_dir, page)
    # Smoke runs: no paper column beside them (the ledger above lists the paper's figures as
    # claims), and each says why it is not comparable.
    body = text.split("Experiment arc-ci", 1)[1]
    assert "paper's figure" not in body and "44.6 %" not in body and "87.4 %" not in body
    assert text.count("Not comparable with the paper") == 2
    # Sudoku: no augmented views or single mode in its caption.
    sudoku = text.split("Experiment sudoku-ci")[1]
    assert "augmented views" not in sudoku.split("Provenance")[0]
    assert "single mode" not in sudoku.split("Provenance")[0]
    # The agreement distribution shown equals top_votes in per_input.csv, and views pooled n_votes.
    with open(run_dir / "runs/arc-ci/scores/paper/per_input.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    (table,) = page["votes"]
    shown_pooled = {int(r[0]): int(r[1]) for r in table if int(r[1])}
    shown_agree = {int(r[0]): int(r[2]) for r in table if int(r[2])}
    assert shown_agree == dict(Counter(int(r["top_votes"]) for r in rows))
    assert shown_pooled == dict(Counter(int(r["n_votes"]) for r in rows))
    assert "votes for the chosen answer (agreement)" in text and "views pooled" in text
    # Every accuracy shows its n and a non-degenerate interval with its method.
    for exp, kind in (("arc-ci", "arc"), ("sudoku-ci", "sudoku")):
        metrics = json.loads((run_dir / f"runs/{exp}/scores/paper/metrics.json").read_text())
        n = (
            f"n = {metrics['n_tasks']} tasks, {metrics['n_test_inputs']} test inputs"
            if kind == "arc"
            else f"n = {metrics['n_examples']} test puzzles"
        )
        assert n in text, n
    for table in page["summary"]:
        for row in table[1:]:
            lo, hi = (float(x) for x in re.findall(r"\[(-?[\d.]+), (-?[\d.]+)\]", row[2])[0])
            assert hi > lo, row  # 0 of n is not [0.0, 0.0]
            assert "Wilson score interval" in row[2] or "percentile bootstrap" in row[2]
            assert row[3].startswith("n = ")
    _check_analyses(run_dir, page)
    _check_new_user_findings(run_dir, page)


def _check_the_ledger(run_dir: Path, page: dict) -> None:
    """The page opens with the claims ledger: every claim of the registry, each not run or not
    comparable on these smoke runs with its reason; reports/claims.json holds the same."""
    from trm.claims import claims
    from trm.report.ledger import read_ledger

    assert page["h2"][0] == "Claims: which held, on what evidence", page["h2"][:3]
    (table,) = page["analyses"]["claims-table"]
    ids = [c.id for c in claims().claims]
    assert [r[0].split(":")[0] for r in table[1:]] == ids
    for row in table[1:]:
        verdict = row[4]
        assert verdict.startswith(("not run: ", "not comparable: ")), row
        if verdict.startswith("not comparable"):
            assert "is not in the claim's setting: it is a smoke run" in verdict, row
    entries = read_ledger(run_dir / "reports/claims.json")
    assert [e["id"] for e in entries] == ids
    assert {e["verdict"] for e in entries} <= {"not run", "not comparable"}


def _check_new_user_findings(run_dir: Path, page: dict) -> None:
    """What a new user found unclear on the report (issue 20, section 4), gone."""
    text = page["text"]
    # The sweep: n, a table of the figure's values, and a caption naming curves that coincide.
    with open(run_dir / "runs/arc-ci/acc_vs_aug.csv", newline="") as f:
        sweep = list(csv.DictReader(f))
    (table,) = page["analyses"]["sweep-table"]
    assert [r[0] for r in table[1:]] == [f"{float(r['level']):g}" for r in sweep]
    for shown, row in zip(table[1:], sweep, strict=True):
        assert shown[2] == f"{100 * float(row['pass@1']):.1f} %"
        assert shown[4] == f"{100 * float(row['pass@2']):.1f} %"
    metrics = json.loads((run_dir / "runs/arc-ci/scores/paper/metrics.json").read_text())
    assert f"Every point is over the whole test set: n = {metrics['n_tasks']} tasks" in text
    same = all(r["pass@1"] == r["pass@2"] for r in sweep)
    assert ("pass@1 and pass@2 coincide at every level" in text) == same
    # the ACT-step figure likewise, for any two of its curves that are equal at every step
    with open(run_dir / "runs/arc-ci/analyses/trajectory/trajectory.csv", newline="") as f:
        traj = list(csv.DictReader(f))
    single = [r for r in traj if r["mode"] == "single"]
    if all(r["pass@1"] == r["pass@2"] for r in single):
        (said,) = [s for s in text.split(". ") if "coincide at every ACT step" in s]
        assert "single pass@1" in said and "single pass@2" in said, said
    # Training curves: the smoothed line is named (window, method) and centred.
    assert "centred running mean" in text
    # Manifests: labels with units, not manifest.json's keys; Sudoku in its own words.
    for t in page["analyses"]["manifest-table"]:
        assert t[0] == ["what the build counted", "value", "unit"]
        for row in t[1:]:
            label = row[0].split(" ")[0]
            assert "_" not in label, row
    sudoku = text.split("Experiment sudoku-ci", 1)[1]
    manifest = sudoku.split("Dataset manifest", 1)[1].split("Provenance", 1)[0]
    assert "Sudoku puzzles read" in manifest and "ARC" not in manifest
    assert "augmented task" not in manifest
    # What ran where, in words; halting says how rows that never halt count.
    assert "Inference benchmark, measured on the CPU" in text and "Benchmark (cpu" not in text
    halting = json.loads((run_dir / "runs/arc-ci/analyses/trajectory/halting.json").read_text())
    never, steps = halting["n_rows_never_halting"], halting["act_steps"]
    assert f"counting the {never} that never do as step {steps}" in text
    # The environment shows the machine's fields the provenance records carry.
    assert "cpu count" in text.rsplit("Environment", 1)[-1]


INTERVAL = re.compile(r"\[([+-]?[\d.]+), ([+-]?[\d.]+)\]( pt)? (bootstrap|Wilson-MOVER|Wilson)$")


def _check_analyses(run_dir: Path, page: dict) -> None:
    """arc-ci's analyses (test-ci: trajectory, puzzle-ID ablation, ensemble) as a reader sees
    them: every table there, one trajectory row per mode and ACT step, every interval
    non-degenerate and naming its method, the same numbers as the files."""
    tables = page["analyses"]
    text = page["text"]
    assert "Accuracy over ACT steps and halting" in text
    assert "Puzzle-identifier ablation" in text and "Checkpoint ensemble" in text
    (traj,) = tables["trajectory-table"]
    with open(run_dir / "runs/arc-ci/analyses/trajectory/trajectory.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r[0], r[1]) for r in traj[1:]] == [(r["mode"], r["step"]) for r in rows]
    for shown, row in zip(traj[1:], rows, strict=True):
        assert shown[2] == f"{100 * float(row['pass@1']):.1f} %"
    cells = [
        c for t in tables["trajectory-table"] + tables["halting-table"] for r in t[1:] for c in r
    ]
    for key in ("ids-table", "ensemble-table"):
        assert tables[key], f"no {key} on the page"
        for t in tables[key]:
            cells += [c for r in t[1:] for c in r]  # row 0: the header (captions are not rows)
    intervals = [m for c in cells if (m := INTERVAL.search(c))]
    assert len(intervals) >= 2 * len(rows)
    for m in intervals:
        assert float(m.group(2)) > float(m.group(1)), m.group(0)  # never [x, x]
    ids_rows = {r[0] for t in tables["ids-table"] for r in t[1:]}
    assert {"blank", "random", "mean"} <= ids_rows
    # every comparison is one table shape (trm/report/comparisons.py): the base row first, its
    # difference cells "baseline", then each run with n, value, interval, difference, p
    metrics = json.loads((run_dir / "runs/arc-ci/scores/paper/metrics.json").read_text())
    (paired,) = tables["paired-table"]  # arc-ci: paper minus single mode
    assert [r[0] for r in paired[1:]] == ["single", "paper"]
    assert paired[1][1] == paired[2][1] == str(metrics["n_tasks"]) and paired[1][4] == "baseline"
    assert INTERVAL.search(paired[2][5]) and " pt " in paired[2][5]
    (halting,) = tables["halting-table"]
    assert [r[0] for r in halting[1:]] == ["mode = paper", "last", "halted"] + [
        "mode = single",
        "last",
        "halted",
    ]


def test_grid_table_opens_in_chromium(chromium, tmp_path):
    """An ablation grid's table (trm/report/grids.py + grid.html.j2) in a real browser: no
    script or console errors, one row per variant with the paper column and paired intervals."""
    from test_grids import _fake_grid_json

    from trm.report.grids import GridInputs
    from trm.report.render import render_html

    root = Path(__file__).resolve().parents[1]
    _fake_grid_json(tmp_path / "grid.json")
    grid = GridInputs("abl", str(tmp_path / "grid.json"), {"trm-mlp": "abl.trm-mlp"})
    html = render_html([], None, root / "reports/templates", grids=[grid])
    page = tmp_path / "grid.html"
    page.write_text(html.replace("<head>", "<head>\n" + PROBE, 1))
    proc = _run(chromium, "--virtual-time-budget=5000", "--dump-dom", page.as_uri())
    m = re.search(r'<pre id="__probe">(.*?)</pre>', proc.stdout, re.S)
    assert m, f"probe did not run; chromium stderr:\n{proc.stderr[-3000:]}"
    assert json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&"))["errors"] == []
    table = proc.stdout.split('class="grid-table"', 1)[1].split("</table>", 1)[0]
    assert table.count("<tr>") == 3  # header + 2 variants
    assert '<th class="paper">paper</th>' in table and "55.0 %" in table
    assert "[-51.8, -45.8] pt bootstrap" in table and "[85.0, 95.0] bootstrap" in table
