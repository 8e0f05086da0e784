"""The jinja2 environments of the decision document and the HTML pages are built once per process (their
compiled templates are reused), and caching them changes no output."""

from __future__ import annotations

import re
import sys

import pytest

from basesel.report import html, render
from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
from synthetic_run import make_run  # noqa: E402


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("cache") / "run", 30, seed=3)


def test_environments_and_their_compiled_templates_are_reused():
    assert render._environment() is render._environment()
    assert render._environment().get_template(render.TEMPLATE) is render._environment().get_template(render.TEMPLATE)
    assert html.environment() is html.environment()
    assert html.environment().get_template(html.PAGE_TEMPLATE) is html.environment().get_template(html.PAGE_TEMPLATE)


def test_the_comparison_filters_do_not_land_in_the_shared_document_environment():
    from basesel.run import compare

    assert {"p", "points", "num", "duration", "mdquote"} <= set(compare._environment().filters)
    assert not {"p", "points", "num", "duration", "mdquote"} & set(render._environment().filters)
    assert compare._environment() is compare._environment()


def test_cached_environments_render_the_same_document_and_viewer_as_fresh_ones(run, tmp_path, monkeypatch):
    cached_md = render.render_report(run, tmp_path / "a" / "eval.md", charts=False).read_text()
    cached_md_again = render.render_report(run, tmp_path / "b" / "eval.md", charts=False).read_text()
    cached_html = (tmp_path / "a" / "eval.html").read_text()
    # the old behaviour: a new Environment (and a fresh compile) on every call
    monkeypatch.setattr(render, "_environment", render.new_environment)
    monkeypatch.setattr("basesel.report.viewer.environment", html.environment.__wrapped__)
    fresh_md = render.render_report(run, tmp_path / "c" / "eval.md", charts=False).read_text()
    fresh_html = (tmp_path / "c" / "eval.html").read_text()
    assert cached_md == cached_md_again == fresh_md
    assert _undated(cached_html) == _undated(fresh_html)


def _undated(page: str) -> str:
    """matplotlib stamps each SVG with the time it was drawn, and salts its clip-path / marker ids at random"""
    return re.sub(r"\b[a-z][0-9a-f]{10}\b", "ID", re.sub(r"<dc:date>[^<]*</dc:date>", "", page))
