"""How fast the run viewer opens and filters on a 5,000-scenario run, in headless Chromium.

1. Writes a 5,000-scenario run directory with the pipeline's own writers (benchmarks/synthetic_run.py:
   generated scenarios, the rubric's real checks, `assess`, JsonlAppender, summarize).
2. Times `basesel report RUN --html` and `basesel report RUN` (document + charts + viewer) as commands,
   process start included.
3. Opens the viewer in a fresh headless Chromium several times: the time from a cold browser to the
   rows on screen (the page sets data-viewer-ready one animation frame after its first render), the
   navigation alone, and the page's own clock at that moment; then times the filters on all rows.
4. The same for the alternative the viewer avoids: every scenario as a plain HTML row (with its
   response and verdicts) filtered by the shared shell's generic table filter.

    python benchmarks/bench_viewer.py [-n 5000] [--repeat 3] [--screenshots docs/images]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO / "src"))

from synthetic_run import make_run  # noqa: E402

from basesel.report.chromium import Chromium  # noqa: E402

READY = "document.documentElement.getAttribute('data-viewer-ready')"

PLAIN_ROWS = """{% extends "html/page.html.j2" %}
{% block body %}<div data-filter-scope><div class="controls"><input type="search" data-search>
<label><input type="checkbox" data-failed-only> failed only</label><span class="count" data-shown></span></div>
<table class="filterable"><thead><tr><th>Scenario</th><th>Result</th><th>Topic</th><th>Response and verdicts</th></tr></thead><tbody>
{% for r in rows %}<tr id="{{ r.id }}" data-ok="{{ 1 if r.st == 'pass' else 0 }}" data-topic="{{ r.t.topic }}"><td>{{ r.id }}</td><td>{{ r.st }}</td><td>{{ r.t.topic }}</td>
<td><details><summary>{{ r['in'][:120] }}</summary><pre>{{ r['in'] }}</pre>{% for s in r.s %}<pre>{{ s.a or s.e }}</pre><table>{% for c in s.c or [] %}<tr><td>{{ c[0] }}</td><td>{{ c[1] }}</td><td>{{ c[3] }}</td></tr>{% endfor %}</table>{% endfor %}</details></td></tr>
{% endfor %}</tbody></table></div>{% endblock %}
{% block script %}requestAnimationFrame(function () { document.documentElement.setAttribute('data-viewer-ready', String(Math.round(performance.now()))); });{% endblock %}
"""


def cli(args: list[str], cwd: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "basesel", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"basesel {' '.join(args)} failed:\n{proc.stderr}")
    return took


def open_cold(url: str) -> dict[str, float]:
    start = time.perf_counter()
    with Chromium(timeout=60) as browser:
        page = browser.open(url)
        load = time.perf_counter() - start
        page_clock = float(page.wait_for(READY, timeout=60))
        ready = time.perf_counter() - start
        nav = page.navigate(url)  # the browser warm: the navigation alone
        page.wait_for(READY, timeout=60)
        warm_ready = float(page.evaluate(READY))
        heap = page.evaluate("performance.memory ? performance.memory.usedJSHeapSize : null")
        errors = list(browser.errors)
    return {"cold_ready_s": ready, "cold_load_s": load, "page_clock_ms": page_clock, "warm_load_s": nav, "warm_page_clock_ms": warm_ready, "heap_mb": (heap or 0) / 2**20, "errors": len(errors)}


def time_filters(url: str, plain: bool) -> dict[str, float]:
    """Milliseconds each filter takes to re-render (measured inside the page, one animation frame on)."""
    with Chromium(timeout=60) as browser:
        page = browser.open(url)
        page.wait_for(READY, timeout=60)
        if plain:
            steps = {
                "failed only": "document.querySelector('input[data-failed-only]').click()",
                "text search": "(() => { const s = document.querySelector('input[data-search]'); s.value = 'refund'; s.dispatchEvent(new Event('input')); })()",
            }
        else:
            steps = {
                "failed only": "document.getElementById('f-failed').click()",
                "text search": "(() => { const s = document.getElementById('f-search'); s.value = 'refund'; s.dispatchEvent(new Event('input')); })()",
                "criterion": "(() => { const s = document.getElementById('f-criterion'); s.value = 'CS2'; s.dispatchEvent(new Event('change')); })()",
                "reveal last id": "(() => { location.hash = JSON.parse(document.getElementById('rows-data').textContent).slice(-1)[0].id; })()",
            }
        out = {}
        for name, js in steps.items():
            out[name] = page.evaluate("new Promise(done => { const t = performance.now(); %s; requestAnimationFrame(() => setTimeout(() => done(performance.now() - t), 0)); })" % js)
    return out


def screenshots(url: str, folder: Path, run_dir: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    shots = []
    with Chromium(width=1280, height=1000) as browser:
        page = browser.open(url)
        page.wait_for(READY)
        shots.append(page.screenshot(folder / "viewer-overview.png"))
        page.evaluate("document.getElementById('sec-dimensions').scrollIntoView()")
        shots.append(page.screenshot(folder / "viewer-dimensions.png"))
        first_failed = next(json.loads(line)["scenario_id"] for line in (run_dir / "assessments.jsonl").read_text().splitlines() if line.strip() and json.loads(line)["scored"] and not json.loads(line)["passed"])
        page.evaluate("(() => { const c = document.getElementById('f-failed'); c.click(); const s = document.querySelector('select[data-dim=topic]'); s.value = 'billing'; s.dispatchEvent(new Event('change')); document.getElementById('sec-scenarios').scrollIntoView(); })()")
        shots.append(page.screenshot(folder / "viewer-scenarios-filtered.png"))
        page.evaluate(f"location.hash = {json.dumps(first_failed)}")  # linked: the row is shown, opened and scrolled to
        page.wait_for(f"document.getElementById({json.dumps(first_failed)}) && document.getElementById({json.dumps(first_failed)}).classList.contains('hit')")
        page.evaluate(f"document.getElementById({json.dumps(first_failed)}).scrollIntoView({{block: 'center'}})")
        shots.append(page.screenshot(folder / "viewer-linked-scenario.png"))
        if browser.errors:
            raise SystemExit(f"script errors while taking screenshots: {browser.errors}")
    return shots


def comparison_screenshots(root: Path, folder: Path) -> list[Path]:
    """The comparison viewer of two 300-scenario runs on the same scenarios (B a better model)."""
    a = make_run(root / "cmp-base", 300, seed=1, model="openai/base-7b")
    b = make_run(root / "cmp-tuned", 300, seed=1, model="openai/tuned-7b", boost=0.12, answers_seed=7)
    page_path = root / "compare.html"
    cli(["report", str(a), "--compare", str(b), "--html-out", str(page_path)], root)
    shots = []
    with Chromium(width=1280, height=1300) as browser:
        page = browser.open(page_path.resolve().as_uri())
        page.wait_for(READY)
        shots.append(page.screenshot(folder / "compare-overview.png"))
        page.evaluate("(() => { const s = document.getElementById('f-flip'); s.value = 'regressed'; s.dispatchEvent(new Event('change')); document.querySelector('#scenarios tbody tr.row').click(); document.getElementById('sec-scenarios').scrollIntoView(); })()")
        shots.append(page.screenshot(folder / "compare-regressed-scenario.png"))
        if browser.errors:
            raise SystemExit(f"script errors on the comparison page: {browser.errors}")
    return shots


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--screenshots", type=Path, help="also write screenshots of the viewer to this folder")
    ap.add_argument("--keep", type=Path, help="write the run and pages here instead of a temporary folder")
    args = ap.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-viewer-"))
    root.mkdir(parents=True, exist_ok=True)
    run = root / "run"
    start = time.perf_counter()
    if not (run / "summary.json").is_file():
        make_run(run, args.n, seed=0)
    made = time.perf_counter() - start
    viewer = root / "viewer.html"
    t_html = cli(["report", str(run), "--html", "--html-out", str(viewer)], root)
    import resource

    rss_html = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the largest child so far: this one
    t_doc = cli(["report", str(run), "--doc", str(root / "docs" / "base-model-evaluation.md")], root)

    from basesel.report.html import environment
    from basesel.report.viewer import iter_rows

    plain = root / "plain-rows.html"
    plain.write_text(environment().from_string(PLAIN_ROWS).render(title="plain rows", rows=list(iter_rows(run, 1))), encoding="utf-8")

    results = {}
    for name, page in (("viewer (JSON rows, paged)", viewer), ("plain HTML rows", plain)):
        runs = [open_cold(page.resolve().as_uri()) for _ in range(args.repeat)]
        results[name] = {"size_mb": page.stat().st_size / 2**20, "runs": runs, "filters_ms": time_filters(page.resolve().as_uri(), plain=page is plain)}

    print(f"## Run viewer, {args.n} scenarios ({os.cpu_count()} CPUs; Chromium headless)\n")
    print(f"- synthetic run written with the pipeline's writers: {made:.1f} s")
    print(f"- `basesel report RUN --html` (process start included): {t_html:.2f} s, peak RSS {rss_html:.0f} MB")
    print(f"- `basesel report RUN` (document + 2 PNG charts + viewer): {t_doc:.2f} s\n")
    print("| Page | File | Cold browser to rows on screen (median, min-max) | Navigation, browser warm | Page clock at ready (warm) | JS heap | Script errors |")
    print("|------|------|--------------------------------------------------|--------------------------|----------------------------|---------|---------------|")
    for name, r in results.items():
        cold = [x["cold_ready_s"] for x in r["runs"]]
        warm = [x["warm_load_s"] for x in r["runs"]]
        clock = [x["warm_page_clock_ms"] for x in r["runs"]]
        print(f"| {name} | {r['size_mb']:.1f} MB | {statistics.median(cold):.2f} s ({min(cold):.2f}-{max(cold):.2f}) | {statistics.median(warm):.2f} s | {statistics.median(clock):.0f} ms | "
              f"{statistics.median(x['heap_mb'] for x in r['runs']):.0f} MB | {sum(x['errors'] for x in r['runs'])} |")
    print("\n| Page | " + " | ".join(f"{k}" for k in results["viewer (JSON rows, paged)"]["filters_ms"]) + " |")
    for name, r in results.items():
        f = r["filters_ms"]
        print(f"| {name} | " + " | ".join(f"{f[k]:.0f} ms" if k in f else "-" for k in results["viewer (JSON rows, paged)"]["filters_ms"]) + " |")
    if args.screenshots:
        for path in screenshots(viewer.resolve().as_uri(), args.screenshots, run) + comparison_screenshots(root, args.screenshots):
            print(f"\nscreenshot: {path}")


if __name__ == "__main__":
    main()
