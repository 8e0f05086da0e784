"""Self-contained HTML pages: one file, inline CSS, JS and SVG, viewable offline (no CDN, no fetch).

Every HTML report (the run viewer, comparisons, the benchmark report) renders through `render_page`
with the shared `templates/html/page.html.j2` shell, which carries the styles and the generic row
filter: any `<table class="filterable">` gets filtering by its `data-*` attributes (through
`<select data-filter="attr">` controls), a text search (`<input data-search>`), a "failed only" toggle
(`<input type="checkbox" data-failed-only>` hides rows with `data-ok="1"`), and rows linkable by id
(`#row-id` scrolls to and highlights the row).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

PAGE_TEMPLATE = "html/page.html.j2"


@functools.lru_cache(maxsize=1)
def environment():
    """The HTML pages' jinja2 environment, built once per process (it caches the compiled templates).
    Shared by every page: never add filters or globals to it (an overlay shares them too)."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    from ..paths import bundled

    env = Environment(
        loader=FileSystemLoader(str(bundled("templates"))),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pct"] = lambda x: "-" if x is None else f"{100 * x:.1f}%"
    env.filters["tojson_script"] = json_for_script
    return env


def json_for_script(value: Any) -> str:
    """JSON safe to put inside <script>: no '</script>' or '<!--' can close the element early."""
    from markupsafe import Markup

    text = json.dumps(value, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)


def render_page(template: str, *, title: str, **context: Any) -> str:
    """Render `template` (which extends the shared page shell) to one HTML string."""
    env = environment()
    return env.get_template(template).render(title=title, **context)


def write_page(path: Path, template: str, *, title: str, **context: Any) -> Path:
    from ..run.files import atomic_write_text

    atomic_write_text(path, render_page(template, title=title, **context))
    return path
