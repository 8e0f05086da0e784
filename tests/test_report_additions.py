"""What the decision document gained (category scores, every dimension with intervals, the off-research
line, word-boundary quotes, gate and topic charts as PNG files beside it), and the run viewer file as
`basesel report` / `baseline` write it (its content, checked without a browser; see
test_viewer_browser.py for the page itself)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from basesel.cli.main import app
from basesel.report.render import render_report, research_role
from conftest import BASESEL, REPO, cli_env

sys.path.insert(0, str(REPO / "benchmarks"))
from synthetic_run import make_run  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("additions") / "run", 80, seed=5)


def section(doc: str, heading: str) -> str:
    return doc.split(f"\n{heading}\n", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]


def test_document_has_category_scores_and_every_dimension_with_intervals(run, tmp_path):
    doc_path = render_report(run, tmp_path / "docs" / "eval.md", html=False)
    doc = doc_path.read_text()
    summary = json.loads((run / "summary.json").read_text())
    cats = section(doc, "### Category scores")
    assert "| Category | Weight | Criteria | Mean score | All criteria passed | 95% interval |" in cats
    res = summary["breakdowns"]["categories"]["resolution"]
    assert f"| resolution | 0.4 | CS1, CS2, CS3 | {100 * res['mean_score']:.1f}% | {res['all_passed']['passed']}/{res['all_passed']['scored']} " in cats
    for dim in ("topic", "subtopic", "style", "mood", "edge case"):
        table = section(doc, f"### Pass rate by {dim}")
        assert "| Passed | Scored | Rate | 95% interval |" in table, dim
    mood = summary["breakdowns"]["dimensions"]["mood"]["calm"]
    assert f"| calm | {mood['passed']} | {mood['scored']} | {100 * mood['rate']:.1f}% | {100 * mood['ci95'][0]:.1f}%–{100 * mood['ci95'][1]:.1f}% |" in doc
    # the failure analysis gives each criterion's pass rate with its interval
    assert re.search(r"\| CS1 \| \d+ \| \d+ \| \d+\.\d% \(\d+\.\d%–\d+\.\d%\) \|", doc)


def test_document_links_gate_and_topic_charts_written_beside_it(run, tmp_path):
    doc_path = render_report(run, tmp_path / "docs" / "eval.md", html=False)
    doc = doc_path.read_text()
    for name in ("eval-gate.png", "eval-topic.png"):
        assert f"]({name})" in doc  # relative: the document and its pictures move together
        assert (doc_path.parent / name).read_bytes()[:8] == PNG
    assert "base-model-evaluation.html" not in doc and "eval.html" not in doc  # no viewer written, none linked
    # A run with nothing scored has no gate to draw: an old picture is removed, not left to mislead.
    empty = tmp_path / "empty"
    make_run(empty, 8, seed=9)
    (empty / "assessments.jsonl").write_text("")
    beside = render_report(empty, doc_path, html=False)
    assert not (beside.parent / f"{beside.stem}-gate.png").exists()
    assert "-gate.png" not in beside.read_text()
    # ... and the decision it did not replace keeps its own pictures
    assert beside != doc_path and (doc_path.parent / "eval-gate.png").exists() and "](eval-gate.png)" in doc_path.read_text()
    stale = beside.parent / f"{beside.stem}-gate.png"
    stale.write_bytes(PNG)  # an old picture beside a document that now has nothing to draw is removed
    render_report(empty, beside, html=False)
    assert not stale.exists()


def test_quotes_in_the_document_end_at_word_boundaries(tmp_path):
    run = make_run(tmp_path / "run", 24, seed=6)
    records = [json.loads(line) for line in (run / "responses.jsonl").read_text().splitlines()]
    for i, r in enumerate(records):  # long answers of words of many lengths, so a plain cut at 400 splits one
        if "answer" in r:
            r["answer"] = r["response"] = " ".join(("x" * (1 + (i + j) % 11)) + str(j) for j in range(150))
    (run / "responses.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    doc = render_report(run, tmp_path / "eval.md", html=False).read_text()
    quotes = re.findall(r'\*Model:\* "([^"]*)"', doc)
    answers = [r["answer"] for r in records if "answer" in r]
    cut = [q for q in quotes if q.endswith(" ...")]
    assert len(cut) >= 2
    for q in cut:
        body = q[: -len(" ...")]
        full = next(" ".join(a.split()) for a in answers if " ".join(a.split()).startswith(body))
        assert full[len(body)] == " "  # the next character is a space: the last word is whole


def _research(tmp_path: Path) -> dict:
    result = CliRunner().invoke(app, ["research", "--domain", "support", "--size", "1-10B", "--top", "5"])
    assert result.exit_code == 0, result.output
    return json.loads((tmp_path / "research.json").read_text())


def test_a_line_when_the_model_is_neither_research_pick(run, tmp_path):
    research = _research(tmp_path)
    doc = render_report(run, tmp_path / "eval.md", html=False).read_text()  # ./research.json is read by default
    note = "is neither the research primary"
    assert note in doc and f"`{research['primary']['model']}`" in doc.split(note, 1)[1].split("\n", 1)[0]
    # The same run, had it evaluated the primary under its Ollama tag: no line.
    manifest_path = run / "manifest.json"
    original = manifest_path.read_text()
    manifest = json.loads(original)
    tag = research["primary"]["pull_command"].split()[-1] if research["primary"]["pull_command"] else research["primary"]["model"]
    try:
        manifest["candidate"]["name"] = tag
        manifest_path.write_text(json.dumps(manifest))
        assert note not in render_report(run, tmp_path / "eval.md", html=False).read_text()
    finally:
        manifest_path.write_text(original)


@pytest.mark.parametrize(
    "name, role",
    [("qwen3:4b", "primary"), ("Qwen/Qwen3-4B", "primary"), ("Qwen3-4B-Instruct-Q4_K_M.gguf", "primary"), ("llama3.1:8b", "backup"), ("qwen3:14b", None), ("gpt-4o-mini", None)],
)
def test_research_role_matches_any_name_of_a_pick(name, role):
    research = {"primary": {"model": "Qwen3-4B", "pull_command": "basesel pull qwen3:4b", "hf_repo": "Qwen/Qwen3-4B"},
                "backup": {"model": "Llama-3.1-8B-Instruct", "pull_command": "basesel pull llama3.1:8b"}}
    assert research_role({"name": name}, research) == role
    assert research_role({"name": name}, None) is None


def _rows(html: str) -> list[dict]:
    data = html.split('<script type="application/json" id="rows-data">', 1)[1].split("</script>", 1)[0]
    return json.loads(data)


def test_report_writes_the_viewer_beside_the_document(run, tmp_path):
    result = CliRunner().invoke(app, ["report", str(run), "--doc", str(tmp_path / "docs" / "eval.md")])
    assert result.exit_code == 0, result.output
    html_path = tmp_path / "docs" / "eval.html"
    html = html_path.read_text()
    assert "[eval.html](eval.html)" in (tmp_path / "docs" / "eval.md").read_text()
    rows = _rows(html)
    assert [r["id"] for r in rows] == [json.loads(line)["id"] for line in (run / "scenarios.jsonl").read_text().splitlines()]
    assert html.count("<svg") >= 4  # gate, criteria, categories, dimensions
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)  # nothing fetched from anywhere
    assessments = {json.loads(line)["scenario_id"]: json.loads(line) for line in (run / "assessments.jsonl").read_text().splitlines()}
    for r in rows:
        a = assessments.get(r["id"])
        if a and a["scored"]:
            assert r["st"] == ("pass" if a["passed"] else "fail")
            assert [c[0] for c in r["s"][0]["c"]] == [c["id"] for c in a["criteria"]]
            assert [c[3] for c in r["s"][0]["c"]] == [c["reason"] for c in a["criteria"]]


def test_report_html_writes_only_the_viewer(run, tmp_path):
    result = CliRunner().invoke(app, ["report", str(run), "--html", "--html-out", str(tmp_path / "v.html")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "v.html").is_file() and not (tmp_path / "docs").exists()
    result = CliRunner().invoke(app, ["report", str(run), "--html"])
    assert result.exit_code == 0 and (run / "viewer.html").is_file()
    result = CliRunner().invoke(app, ["report", str(run), "--doc", str(tmp_path / "d.md"), "--no-html"])
    assert result.exit_code == 0 and (tmp_path / "d.md").is_file() and not (tmp_path / "d.html").exists()


@pytest.mark.parametrize(
    "args, message",
    [(["--html-out", "x.html"], "--html-out says where --html writes"), (["--html", "--no-html"], "--html writes only the viewer"), (["--html", "--html-out", "."], "is a directory")],
)
def test_report_flag_mistakes_are_clear(run, tmp_path, args, message):
    proc = subprocess.run(BASESEL + ["report", str(run), *args], cwd=tmp_path, env=cli_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_scenario_text_cannot_break_out_of_the_page(tmp_path):
    run = make_run(tmp_path / "run", 8, seed=4)
    hostile = '</script><script>document.title="pwned"</script><!-- & "quotes"'
    lines = [json.loads(line) for line in (run / "scenarios.jsonl").read_text().splitlines()]
    lines[0]["input"] = hostile
    (run / "scenarios.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    result = CliRunner().invoke(app, ["report", str(run), "--html"])
    assert result.exit_code == 0, result.output
    html = (run / "viewer.html").read_text()
    assert hostile not in html and "</script><script>document.title" not in html
    assert _rows(html)[0]["in"] == hostile  # escaped for the script element, intact once parsed


def test_baseline_writes_the_viewer_beside_the_document_unless_told_not_to(tmp_path):
    from openai_stub_server import serve

    server, _ = serve(0, delay=0.0)
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    args = ["baseline", "--model", "openai/stub", "--base-url", url, "--judge", "openai/judge", "--judge-base-url", url, "--domain", "support", "-n", "8"]
    try:
        proc = subprocess.run(BASESEL + args + ["--out", "r1"], cwd=tmp_path, env=cli_env(tmp_path), capture_output=True, text=True, timeout=180)
        assert proc.returncode in (0, 5), proc.stderr  # 8 of 8 passing is still inconclusive (5)
        assert "run viewer: docs/base-model-evaluation.html" in proc.stderr
        docs = tmp_path / "docs"
        assert {p.name for p in docs.iterdir()} >= {"base-model-evaluation.md", "base-model-evaluation.html", "base-model-evaluation-gate.png", "base-model-evaluation-topic.png"}
        assert len(_rows((docs / "base-model-evaluation.html").read_text())) == 8
        proc = subprocess.run(BASESEL + args + ["--out", "r2", "--doc", "other/doc.md", "--no-html", "--json"], cwd=tmp_path, env=cli_env(tmp_path), capture_output=True, text=True, timeout=180)
        assert proc.returncode in (0, 5), proc.stderr
        assert (tmp_path / "other" / "doc.md").is_file() and not (tmp_path / "other" / "doc.html").exists()
        assert "viewer" not in json.loads(proc.stdout)
    finally:
        server.shutdown()
        server.server_close()


def test_viewer_of_several_samples_per_scenario_shows_each(tmp_path):
    run = make_run(tmp_path / "run", 24, seed=8, samples=2)
    result = CliRunner().invoke(app, ["report", str(run), "--html"])
    assert result.exit_code == 0, result.output
    rows = _rows((run / "viewer.html").read_text())
    assert len(rows) == 24 and all(len(r["s"]) == 2 for r in rows)
    order = ["fail", "error", "unscored", "pending", "pass"]
    for r in rows:
        assert r["st"] == min((s["st"] for s in r["s"]), key=order.index)  # the worst sample's status
        assert r["np"] == sum(s["st"] == "pass" for s in r["s"])


def test_viewer_of_untagged_scenarios_and_of_a_run_with_nothing_scored(tmp_path):
    run = make_run(tmp_path / "run", 8, seed=1)
    lines = [json.loads(line) for line in (run / "scenarios.jsonl").read_text().splitlines()]
    (run / "scenarios.jsonl").write_text("".join(json.dumps({"id": x["id"], "input": x["input"]}) + "\n" for x in lines))
    records = [json.loads(line) for line in (run / "responses.jsonl").read_text().splitlines()]
    (run / "responses.jsonl").write_text("".join(json.dumps(r | {"tags": {}}) + "\n" for r in records))
    assert CliRunner().invoke(app, ["report", str(run), "--html"]).exit_code == 0
    html = (run / "viewer.html").read_text()
    assert "No scenario carries tags" in html and 'data-dim="' not in html and len(_rows(html)) == 8
    (run / "assessments.jsonl").write_text("")  # nothing assessed yet: the page still opens, every row pending
    assert CliRunner().invoke(app, ["report", str(run), "--html"]).exit_code == 0
    html = (run / "viewer.html").read_text()
    assert "nothing was scored" in html and {r["st"] for r in _rows(html)} <= {"pending", "error"}


def test_a_run_with_nothing_scored_leaves_a_decisions_charts_and_viewer_alone(run, tmp_path):
    doc = tmp_path / "docs" / "eval.md"
    render_report(run, doc)  # a decision, with its pictures and viewer
    before = {p.name: p.read_bytes() for p in doc.parent.iterdir()}
    empty = make_run(tmp_path / "empty", 8, seed=9)
    (empty / "assessments.jsonl").write_text("")
    written = render_report(empty, doc)
    assert written.name == "eval.no-decision.md"
    for name in ("eval.md", "eval-gate.png", "eval-topic.png", "eval.html"):
        assert (doc.parent / name).read_bytes() == before[name], name
    assert (doc.parent / "eval.no-decision.html").is_file() and "eval.no-decision.html" in written.read_text()
