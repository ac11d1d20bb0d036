"""A self-contained HTML report: sections of text, tables and figures beside the file.

A report opens with its title and optional lead paragraphs; with ``contents=True`` a list of
links to every section follows (each section gets an ``id`` anchor made from its title).
"""

from __future__ import annotations

import html
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

__all__ = ["Report", "Section", "anchor_for"]

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{border-bottom:2px solid #e8a33d} h2{margin-top:2em;color:#7a4a00}
table{border-collapse:collapse;margin:1em 0;font-size:90%} td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f6efe4} figure{display:inline-block;margin:0.5em} figcaption{font-size:85%;color:#555}
img{max-width:100%;border:1px solid #ddd} .note{color:#666;font-size:90%}
nav.contents{background:#faf6ef;border:1px solid #eadbc4;padding:0.3em 1.2em;display:inline-block}
"""


def anchor_for(title: str) -> str:
    """The ``id`` a section titled ``title`` gets: lower case, runs of other characters as ``-``."""
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "section"


@dataclass
class Section:
    """One titled part of a report: paragraphs, tables and figures, in the order added."""

    title: str
    parts: list = field(default_factory=list)

    def text(self, text: str, note: bool = False) -> "Section":
        cls = ' class="note"' if note else ""
        self.parts.append(f"<p{cls}>{html.escape(text)}</p>")
        return self

    def table(self, rows: list[dict], caption: str | None = None) -> "Section":
        if not rows:
            return self
        cols = list(rows[0])
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(r.get(c)))}</td>" for c in cols) + "</tr>" for r in rows)
        cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
        self.parts.append(f"<table>{cap}<tr>{head}</tr>{body}</table>")
        return self

    def figure(self, path, caption: str = "") -> "Section":
        self.parts.append((Path(path), caption))
        return self


class Report:
    """Collect sections, then :meth:`write` one HTML file with figures linked relatively.

    ``report.section(title)`` starts a section and ``text``/``table``/``figure`` add to the
    latest one; :meth:`add` appends a :class:`Section` built elsewhere.
    """

    def __init__(self, title: str, lead: tuple[str, ...] | list[str] = (), contents: bool = False):
        self.title = title
        self.lead = list(lead)
        self.contents = contents
        self.sections: list[Section] = []

    def section(self, title: str) -> "Report":
        self.sections.append(Section(title))
        return self

    def add(self, *sections: Section) -> "Report":
        self.sections.extend(sections)
        return self

    def text(self, text: str, note: bool = False) -> "Report":
        self.sections[-1].text(text, note)
        return self

    def table(self, rows: list[dict], caption: str | None = None) -> "Report":
        self.sections[-1].table(rows, caption)
        return self

    def figure(self, path, caption: str = "") -> "Report":
        self.sections[-1].figure(path, caption)
        return self

    def anchors(self) -> list[str]:
        """One unique anchor per section, in order (a repeated title gets ``-2``, ``-3``, ...)."""
        seen: dict[str, int] = {}
        out = []
        for sec in self.sections:
            base = anchor_for(sec.title)
            seen[base] = seen.get(base, 0) + 1
            out.append(base if seen[base] == 1 else f"{base}-{seen[base]}")
        return out

    def write(self, path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        out = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(self.title)}</title>",
               f"<style>{_STYLE}</style></head><body><h1>{html.escape(self.title)}</h1>",
               f"<p class='note'>written {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC}</p>"]
        out += [f"<p>{html.escape(p)}</p>" for p in self.lead]
        anchors = self.anchors()
        if self.contents and self.sections:
            items = "".join(f"<li><a href='#{a}'>{html.escape(s.title)}</a></li>" for a, s in zip(anchors, self.sections))
            out.append(f"<nav class='contents'><strong>Contents</strong><ol>{items}</ol></nav>")
        for anchor, sec in zip(anchors, self.sections):
            out.append(f"<h2 id='{anchor}'>{html.escape(sec.title)}</h2>")
            for part in sec.parts:
                if isinstance(part, tuple):
                    fig, caption = part
                    rel = os.path.relpath(fig.resolve(), path.parent.resolve())
                    out.append(f"<figure><img src='{html.escape(rel)}' alt='{html.escape(caption)}'><figcaption>{html.escape(caption)}</figcaption></figure>")
                else:
                    out.append(part)
        out.append("</body></html>")
        path.write_text("\n".join(out))
        return path


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)
