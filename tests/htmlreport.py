"""Reading an HTML run report (devnet.html_report) back, as the tests of bench and chaos do: no
browser, the standard library's HTML parser."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Page:
    verdict: str = ""  # the text of #verdict
    verdicts: dict[str, bool] = field(default_factory=dict)  # check name -> ok
    bands: dict[str, set[str]] = field(default_factory=dict)  # chart id -> fault indices drawn
    series: dict[str, int] = field(default_factory=dict)  # series id -> points (all segments)
    roles: set[tuple[str, str]] = field(default_factory=set)  # (node, role) lanes drawn
    data: dict = field(default_factory=dict)  # the embedded run data
    external: list[str] = field(default_factory=list)  # anything fetched from elsewhere


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.page = Page()
        self.chart = ""
        self.in_verdict = False
        self.in_data = False
        self.data_text = ""

    def handle_starttag(self, tag: str, attrs) -> None:
        a = dict(attrs)
        for key in ("src", "href"):
            if a.get(key) and not str(a[key]).startswith("#"):
                self.page.external.append(f"{tag} {key}={a[key]}")
        if tag == "link":
            self.page.external.append(f"link {a}")
        classes = (a.get("class") or "").split()
        if tag == "svg":
            self.chart = a.get("id", "")
            self.page.bands.setdefault(self.chart, set())
        if a.get("id") == "verdict":
            self.in_verdict = True
        if tag == "tr" and "verdict-row" in classes:
            self.page.verdicts[a["data-name"]] = a["data-ok"] == "true"
        if tag == "rect" and "fault-band" in classes:
            self.page.bands[self.chart].add(a["data-fault"])
        if tag == "rect" and "role" in classes:
            self.page.roles.add((a["data-node"], a["data-role"]))
        if tag == "polyline" and "series" in classes:
            n = len(a["points"].split())
            assert n == int(a["data-points"])
            self.page.series[a["data-series"]] = self.page.series.get(a["data-series"], 0) + n
        if tag == "script":
            if a.get("type") != "application/json":
                self.page.external.append("a script")  # the page needs none
            self.in_data = a.get("id") == "run-data"

    def handle_endtag(self, tag: str) -> None:
        if tag == "div":
            self.in_verdict = False
        if tag == "script" and self.in_data:
            self.page.data = json.loads(self.data_text)
            self.in_data = False

    def handle_data(self, data: str) -> None:
        if self.in_verdict:
            self.page.verdict += data
        if self.in_data:
            self.data_text += data


def read_report(html: str) -> Page:
    reader = _Reader()
    reader.feed(html)
    reader.close()
    assert "@import" not in html and "url(" not in html, "the page loads nothing from elsewhere"
    return reader.page
