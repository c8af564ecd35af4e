"""A run as one self-contained HTML page (`--report FILE.html` of `lichen bench` and `lichen
devnet chaos`): the verdicts, the facts, and the timeline as inline SVG charts (throughput and
latency as lines, each node's height, faults as bands across all of them). No script, no
stylesheet or font from elsewhere: it opens from a file on a machine without a network, and
a browser's tooltips (SVG <title>) say what a band or point is. The data behind the charts is
embedded as JSON too (<script type="application/json" id="run-data">), for anyone's tools.
"""
from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from html import escape

from .timeline import Timeline

WIDTH, HEIGHT = 920, 190
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 14, 28
PALETTE = ["#2563eb", "#d97706", "#059669", "#db2777", "#7c3aed", "#0891b2", "#65a30d",
           "#dc2626", "#4b5563", "#ca8a04"]
ROLE_COLOURS = {"leader": "#1d4ed8", "follower": "#93c5fd", "candidate": "#f59e0b",
                "observer": "#6ee7b7", "joining": "#c4b5fd", "unlicensed": "#9ca3af",
                "down": "#f87171"}
LANE = 22  # px per node in the roles chart
BAND_COLOURS = {"kill": "#ef4444", "restart-all": "#b91c1c", "pause": "#f59e0b",
                "partition": "#8b5cf6", "lossy": "#06b6d4", "delay": "#0d9488", "clock": "#a16207"}


@dataclass(frozen=True)
class Band:
    """A fault in force from `start` to `end` (seconds since t0)."""
    start: float
    end: float
    kind: str
    label: str


@dataclass(frozen=True)
class Verdict:
    name: str
    ok: bool
    detail: str


CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;
 max-width:960px;color:#111827;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 6px}
.sub{color:#4b5563;margin:0 0 14px}
.verdict{display:inline-block;padding:6px 12px;border-radius:6px;font-weight:600;font-size:16px}
.verdict.pass{background:#dcfce7;color:#166534}.verdict.fail{background:#fee2e2;color:#991b1b}
table{border-collapse:collapse;margin:6px 0}td,th{padding:3px 10px;border-bottom:1px solid #e5e7eb;
 text-align:left;vertical-align:top}th{color:#374151;font-weight:600}
td.pass{color:#166534;font-weight:600}td.fail{color:#991b1b;font-weight:600}
.facts td:first-child{color:#4b5563}
svg{display:block;background:#fafafa;border:1px solid #e5e7eb;border-radius:4px}
svg text{font:11px system-ui,sans-serif;fill:#4b5563}
.grid{stroke:#e5e7eb}.axis{stroke:#9ca3af}
.series{fill:none;stroke-width:1.6}.fault-band{opacity:.18}
.legend span{display:inline-block;margin-right:14px}.legend i{display:inline-block;width:14px;
 height:3px;vertical-align:middle;margin-right:5px}
.none{color:#6b7280;font-style:italic}
"""


def render(title: str, subtitle: str, ok: bool, verdicts: list[Verdict],
           facts: list[tuple[str, str]], timeline: Timeline, bands: list[Band],
           data: dict | None = None) -> str:
    """The whole page."""
    end = span_of(timeline, bands)
    heights = {n: [(s.t, s.height) for s in timeline.heights[n]] for n in timeline.nodes}
    node_colour = {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(timeline.nodes)}
    charts = [
        chart("throughput", "committed tx/s", end, bands,
              [("throughput", "tx/s", "#2563eb", [timeline.throughput()])]),
        chart("latency", "submit → commit latency, ms", end, bands,
              [("latency-p50", "p50", "#059669", [timeline.latency(50)]),
               ("latency-p99", "p99", "#dc2626", [timeline.latency(99)])]),
        chart("heights", "height per node (gaps: not answering)", end, bands,
              [(f"height-{n}", n, node_colour[n], segments(pts)) for n, pts in heights.items()]),
        role_lanes(timeline, end, bands),
    ]
    payload = {"timeline": timeline.to_json(),
               "faults": [{"start": b.start, "end": b.end, "kind": b.kind, "label": b.label}
                          for b in bands], **(data or {})}
    verdict_cls = "pass" if ok else "fail"
    return "\n".join([
        "<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title>", f"<style>{CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>", f'<p class="sub">{escape(subtitle)}</p>',
        f'<div class="verdict {verdict_cls}" id="verdict">'
        f'{"✔ PASS" if ok else "✖ FAIL"}</div>',
        "<h2>Verdicts</h2>", verdict_table(verdicts),
        "<h2>Timeline</h2>", fault_legend(bands), *charts,
        "<h2>Faults</h2>", fault_table(bands),
        "<h2>Facts</h2>", facts_table(facts),
        '<script type="application/json" id="run-data">'
        + json.dumps(payload).replace("<", "\\u003c") + "</script>",
        "</body></html>", ""])


def span_of(timeline: Timeline, bands: list[Band]) -> float:
    ends = [b.end for b in bands]
    ends += [t for t, _ in timeline.throughput()]
    ends += [s.t for samples in timeline.heights.values() for s in samples]
    return max([*ends, 1.0]) * 1.02


def segments(points: list[tuple[float, int | None]]) -> list[list[tuple[float, float]]]:
    """A line broken where the value is missing (a node down or not answering)."""
    out: list[list[tuple[float, float]]] = [[]]
    for t, v in points:
        if v is None:
            if out[-1]:
                out.append([])
        else:
            out[-1].append((t, float(v)))
    return [s for s in out if s]


def nice_max(v: float) -> float:
    if v <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        if v <= m * exp:
            return m * exp
    return 10 * exp



def time_labels(x: Callable[[float], float], end: float, y: float) -> list[str]:
    """The time axis's labels, every nice eighth of the run, at height `y`."""
    step = nice_max(end / 8)
    return [f'<text x="{x(k * step):.1f}" y="{y}" text-anchor="middle">{fmt(k * step)}s</text>'
            for k in range(int(end // step) + 1)]

def fmt(v: float) -> str:
    return f"{v:,.0f}" if v >= 10 or v == int(v) else f"{v:.1f}"


Line = tuple[str, str, str, list[list[tuple[float, float]]]]  # id, label, colour, segments


def chart(chart_id: str, caption: str, end: float, bands: list[Band], lines: list[Line]) -> str:
    top = nice_max(max((v for *_, segs in lines for s in segs for _, v in s), default=0.0))
    w, h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: float) -> float:
        return LEFT + w * t / end

    def y(v: float) -> float:
        return TOP + h * (1 - v / top)

    parts = [f'<svg id="chart-{chart_id}" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" '
             f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{escape(caption)}">']
    for i in range(5):  # horizontal grid and y labels
        v = top * i / 4
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(v):.1f}" '
                     f'y2="{y(v):.1f}"/><text x="{LEFT - 6}" y="{y(v) + 4:.1f}" '
                     f'text-anchor="end">{fmt(v)}</text>')
    parts.extend(time_labels(x, end, HEIGHT - 10))
    for i, b in enumerate(bands):
        colour = BAND_COLOURS.get(b.kind, "#6b7280")
        parts.append(f'<rect class="fault-band" data-fault="{i}" data-kind="{escape(b.kind)}" '
                     f'x="{x(b.start):.1f}" y="{TOP}" width="{max(1.0, x(b.end) - x(b.start)):.1f}"'
                     f' height="{h}" fill="{colour}"><title>{escape(b.label)} '
                     f'({b.start:.1f}s–{b.end:.1f}s)</title></rect>')
    parts.append(f'<line class="axis" x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{TOP + h}"/>'
                 f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{TOP + h}" '
                 f'y2="{TOP + h}"/>')
    for line_id, label, colour, segs in lines:
        for s in segs:
            pts = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in s)
            parts.append(f'<polyline class="series" data-series="{escape(line_id)}" '
                         f'data-points="{len(s)}" stroke="{colour}" points="{pts}">'
                         f'<title>{escape(label)}</title></polyline>')
    parts.append("</svg>")
    legend = "".join(f'<span><i style="background:{c}"></i>{escape(label)}</span>'
                     for _, label, c, _ in lines)
    empty = "" if any(lines_segs for *_, lines_segs in lines) else \
        '<p class="none">no data recorded</p>'
    return (f'<h3 style="font-size:14px;margin:14px 0 4px">{escape(caption)}</h3>'
            f'<div class="legend">{legend}</div>{empty}' + "".join(parts))


def role_spans(samples: list, until: float) -> list[tuple[float, float, str]]:
    """(from, to, role) runs of equal role; a sample holds until the next one."""
    spans: list[tuple[float, float, str]] = []
    for i, s in enumerate(samples):
        role = s.role or "down"
        end = samples[i + 1].t if i + 1 < len(samples) else until
        if spans and spans[-1][2] == role:
            spans[-1] = (spans[-1][0], end, role)
        else:
            spans.append((s.t, end, role))
    return spans


def role_lanes(timeline: Timeline, end: float, bands: list[Band]) -> str:
    """One lane per node: who led, who followed, who did not answer, over time."""
    w = WIDTH - LEFT - RIGHT
    height = TOP + LANE * max(1, len(timeline.nodes)) + BOTTOM

    def x(t: float) -> float:
        return LEFT + w * t / end

    parts = [f'<svg id="chart-roles" class="chart" viewBox="0 0 {WIDTH} {height}" '
             f'width="{WIDTH}" height="{height}" role="img" aria-label="role per node">']
    for i, b in enumerate(bands):
        parts.append(f'<rect class="fault-band" data-fault="{i}" data-kind="{escape(b.kind)}" '
                     f'x="{x(b.start):.1f}" y="{TOP}" width="{max(1.0, x(b.end) - x(b.start)):.1f}"'
                     f' height="{height - TOP - BOTTOM}" fill="{BAND_COLOURS.get(b.kind, "#6b7280")}">'
                     f'<title>{escape(b.label)}</title></rect>')
    seen_roles: set[str] = set()
    for row, node in enumerate(timeline.nodes):
        y = TOP + row * LANE
        parts.append(f'<text x="{LEFT - 6}" y="{y + LANE / 2 + 4:.1f}" text-anchor="end">'
                     f'{escape(node)}</text>')
        samples = timeline.heights[node]
        last = samples[-1].t if samples else 0.0
        for start, stop, role in role_spans(samples, last):
            seen_roles.add(role)
            parts.append(f'<rect class="role" data-node="{escape(node)}" data-role="{role}" '
                         f'x="{x(start):.1f}" y="{y + 3}" width="{max(0.5, x(stop) - x(start)):.1f}"'
                         f' height="{LANE - 6}" fill="{ROLE_COLOURS.get(role, "#9ca3af")}">'
                         f'<title>{escape(node)}: {role} {start:.1f}s–{stop:.1f}s</title></rect>')
    parts.extend(time_labels(x, end, height - 10))
    parts.append("</svg>")
    legend = "".join(f'<span><i style="background:{ROLE_COLOURS[r]};height:10px"></i>{r}</span>'
                     for r in ROLE_COLOURS if r in seen_roles)
    return ('<h3 style="font-size:14px;margin:14px 0 4px">role per node (down: not answering)'
            f'</h3><div class="legend">{legend}</div>' + "".join(parts))


def fault_legend(bands: list[Band]) -> str:
    kinds = sorted({b.kind for b in bands})
    if not kinds:
        return '<p class="none">no faults in this run</p>'
    return '<div class="legend">Faults: ' + "".join(
        f'<span><i style="background:{BAND_COLOURS.get(k, "#6b7280")};height:10px;opacity:.5">'
        f'</i>{escape(k)}</span>' for k in kinds) + "</div>"


def verdict_table(verdicts: list[Verdict]) -> str:
    rows = "".join(
        f'<tr class="verdict-row" data-name="{escape(v.name)}" data-ok="{str(v.ok).lower()}">'
        f'<td>{escape(v.name)}</td><td class="{"pass" if v.ok else "fail"}">'
        f'{"PASS" if v.ok else "FAIL"}</td><td>{escape(v.detail)}</td></tr>' for v in verdicts)
    return f'<table id="verdicts"><tr><th>check</th><th></th><th>detail</th></tr>{rows}</table>'


def fault_table(bands: list[Band]) -> str:
    if not bands:
        return '<p class="none">none</p>'
    rows = "".join(f'<tr class="fault-row" data-fault="{i}"><td>{b.start:.1f}s</td>'
                   f'<td>{b.end:.1f}s</td><td>{escape(b.kind)}</td><td>{escape(b.label)}</td></tr>'
                   for i, b in enumerate(bands))
    return f'<table id="faults"><tr><th>from</th><th>to</th><th>kind</th><th>fault</th></tr>{rows}</table>'


def facts_table(facts: list[tuple[str, str]]) -> str:
    rows = "".join(f"<tr><td>{escape(k)}</td><td>{escape(v)}</td></tr>" for k, v in facts)
    return f'<table class="facts">{rows}</table>'
