"""The report page: one self-contained HTML file (plotly.js, styles and the table sorter inlined;
nothing is fetched when it opens)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from html import escape

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

PLOTLY_CONFIG = {"displaylogo": False, "responsive": True, "modeBarButtonsToRemove": ["lasso2d"]}

CSS = """
:root { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222; }
body { margin: 0 auto; max-width: 1280px; padding: 0 24px 48px; line-height: 1.4; }
header { border-bottom: 1px solid #ddd; margin-bottom: 12px; }
h1 { margin: 20px 0 4px; } h2 { margin-top: 36px; border-bottom: 2px solid #1f77b4; }
h3 { margin-top: 28px; } h4 { margin: 16px 0 6px; }
nav a { margin-right: 14px; } .meta { color: #666; font-size: 0.9em; }
.note { color: #8a6d3b; background: #fcf8e3; padding: 6px 10px; border-radius: 4px; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: 12px; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(560px, 1fr)); gap: 16px; }
figure.chart { margin: 0; min-width: 0; border: 1px solid #eee; border-radius: 4px; }
table { border-collapse: collapse; font-size: 0.88em; width: 100%; }
th, td { padding: 3px 8px; border-bottom: 1px solid #eee; text-align: left; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f5f7fa; cursor: pointer; user-select: none; position: sticky; top: 0; }
th[aria-sort="ascending"]::after { content: " ▲"; }
th[aria-sort="descending"]::after { content: " ▼"; }
.scroll { max-height: 420px; overflow: auto; } td.wrap { white-space: normal; max-width: 520px; }
"""

SORT_JS = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, column) {
    th.addEventListener("click", function () {
      var ascending = th.getAttribute("aria-sort") !== "ascending";
      table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      var body = table.tBodies[0];
      var key = function (row) {
        var cell = row.cells[column];
        return cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent;
      };
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = key(a), y = key(b), nx = parseFloat(x), ny = parseFloat(y);
        var order = (!isNaN(nx) && !isNaN(ny) && String(nx) === x.trim() && String(ny) === y.trim())
          ? nx - ny : x.localeCompare(y);
        return ascending ? order : -order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""

# Charts draw when they come near the screen and WebGL ones (parallel coordinates) are purged
# when they leave it: a browser keeps ~16 WebGL contexts, and a page of sweeps has more.
RENDER_JS = """
var labsyncObserver = new IntersectionObserver(function (entries) {
  entries.forEach(function (entry) {
    var div = entry.target;
    if (entry.isIntersecting && !div.dataset.rendered) {
      var spec = JSON.parse(document.getElementById(div.id + "-spec").textContent);
      div.dataset.rendered = "pending";
      spec.layout.template = labsyncTemplate;
      div.dataset.gl = spec.data.some(function (t) { return t.type === "parcoords"; }) ? "1" : "";
      Plotly.newPlot(div, spec.data, spec.layout, spec.config).then(function () {
        div.dataset.rendered = "1";
      });
    } else if (!entry.isIntersecting && div.dataset.gl && div.dataset.rendered === "1") {
      Plotly.purge(div);
      delete div.dataset.rendered;
    }
  });
}, { rootMargin: "300px 0px" });
document.querySelectorAll("figure.chart .plot").forEach(function (div) {
  labsyncObserver.observe(div);
});
"""

Format = Callable[[object], str]


def number(digits: int = 4) -> Format:
    return lambda v: "" if _missing(v) else f"{float(v):.{digits}g}"  # type: ignore[arg-type]


def percent(v: object) -> str:
    return "" if _missing(v) else f"{float(v) * 100:.1f}%"  # type: ignore[arg-type]


def integer(v: object) -> str:
    return "" if _missing(v) else f"{int(v):,}"  # type: ignore[call-overload]


def when(v: object) -> str:
    if _missing(v):
        return ""
    if isinstance(v, datetime | pd.Timestamp):
        return v.strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(v, date):
        return v.isoformat()
    return str(v)


def _missing(v: object) -> bool:
    return v is None or v is pd.NaT or (isinstance(v, float) and math.isnan(v))


def _sort_key(v: object) -> str | None:
    if _missing(v):
        return ""
    if isinstance(v, bool):
        return None
    if isinstance(v, int | float):
        return repr(float(v)) if isinstance(v, float) else str(v)
    if isinstance(v, datetime | pd.Timestamp | date):
        return v.isoformat()
    return None


def table(
    frame: pd.DataFrame,
    columns: Mapping[str, str],
    formats: Mapping[str, Format] | None = None,
    *,
    links: Mapping[str, str] | None = None,
    attrs: str = "",
    row_attrs: Callable[[Mapping[str, object]], str] | None = None,
    scroll: bool = False,
) -> str:
    """A sortable table of `frame`'s `columns` (name -> header). `links` maps a column to the
    column holding its URL. Numbers sort by value; the shown text is `formats[column]`."""
    formats = formats or {}
    links = links or {}
    numeric = {c for c in columns if pd.api.types.is_numeric_dtype(frame[c].dtype)}
    head = "".join(
        f'<th class="num">{escape(h)}</th>' if c in numeric else f"<th>{escape(h)}</th>"
        for c, h in columns.items()
    )
    body = []
    for record in frame.to_dict("records"):
        cells = []
        for column in columns:
            value = record[column]
            text = escape(formats.get(column, when)(value))
            url = record.get(links[column]) if column in links else None
            if isinstance(url, str) and url.startswith(("https://", "http://")):
                text = f'<a href="{escape(url)}" rel="noopener">{text}</a>'
            key = _sort_key(value)
            sort = f' data-sort="{escape(key)}"' if key is not None else ""
            css = (
                ' class="num"'
                if column in numeric
                else ' class="wrap"'
                if column == "error"
                else ""
            )
            cells.append(f"<td{css}{sort}>{text}</td>")
        extra = f" {row_attrs(record)}" if row_attrs else ""
        body.append(f"<tr{extra}>{''.join(cells)}</tr>")
    html = (
        f'<table class="sortable" {attrs}><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )
    return f'<div class="scroll">{html}</div>' if scroll else html


def note(text: str) -> str:
    return f'<p class="note">{escape(text)}</p>'


@dataclass
class Page:
    """The report being assembled: sections of HTML fragments and the charts in them."""

    title: str
    meta: str
    sections: list[tuple[str, str, list[str]]] = field(default_factory=list)
    charts: list[str] = field(default_factory=list)

    def section(self, anchor: str, title: str) -> list[str]:
        parts: list[str] = []
        self.sections.append((anchor, title, parts))
        return parts

    def chart(self, fig: go.Figure, name: str) -> str:
        """A placeholder and the figure's JSON; `RENDER_JS` draws it when it nears the screen."""
        div_id = f"chart-{len(self.charts) + 1}"
        self.charts.append(name)
        spec = json.loads(pio.to_json(fig, validate=False))
        spec["layout"].pop("template", None)  # RENDER_JS sets the page's one template
        spec["config"] = PLOTLY_CONFIG
        text = json.dumps(spec, separators=(",", ":")).replace("</", "<\\/")
        height = fig.layout.height or 380
        return (
            f'<figure class="chart" data-chart="{escape(name)}">'
            f'<div id="{div_id}" class="plot" style="height:{height}px"></div>'
            f'<script type="application/json" id="{div_id}-spec">{text}</script></figure>'
        )

    def render(self) -> str:
        nav = "".join(f'<a href="#{a}">{escape(t)}</a>' for a, t, _ in self.sections)
        body = "".join(
            f'<section id="{a}"><h2>{escape(t)}</h2>{"".join(parts)}</section>'
            for a, t, parts in self.sections
        )
        return (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(self.title)}</title><style>{CSS}</style>"
            f'<script type="text/javascript">{get_plotlyjs()}</script></head><body>'
            f'<header><h1>{escape(self.title)}</h1><p class="meta">{self.meta}</p>'
            f"<nav>{nav}</nav></header>{body}<script>var labsyncTemplate = {_template()};"
            f"{SORT_JS}{RENDER_JS}</script></body></html>"
        )


def _template() -> str:
    """plotly_white, the look of every chart, as JSON for the page."""
    return json.dumps(pio.templates["plotly_white"].to_plotly_json()).replace("</", "<\\/")
