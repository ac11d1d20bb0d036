"""A self-contained HTML report: sections of text, tables and figures beside the file."""

from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

__all__ = ["Report"]

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{border-bottom:2px solid #e8a33d} h2{margin-top:2em;color:#7a4a00}
table{border-collapse:collapse;margin:1em 0;font-size:90%} td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f6efe4} figure{display:inline-block;margin:0.5em} figcaption{font-size:85%;color:#555}
img{max-width:100%;border:1px solid #ddd} .note{color:#666;font-size:90%}
"""


@dataclass
class Section:
    title: str
    parts: list = field(default_factory=list)


class Report:
    """Collect sections, then :meth:`write` one HTML file with figures linked relatively."""

    def __init__(self, title: str):
        self.title = title
        self.sections: list[Section] = []

    def section(self, title: str) -> "Report":
        self.sections.append(Section(title))
        return self

    def text(self, text: str, note: bool = False) -> "Report":
        cls = ' class="note"' if note else ""
        self.sections[-1].parts.append(f"<p{cls}>{html.escape(text)}</p>")
        return self

    def table(self, rows: list[dict], caption: str | None = None) -> "Report":
        if not rows:
            return self
        cols = list(rows[0])
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(r.get(c)))}</td>" for c in cols) + "</tr>" for r in rows)
        cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
        self.sections[-1].parts.append(f"<table>{cap}<tr>{head}</tr>{body}</table>")
        return self

    def figure(self, path, caption: str = "") -> "Report":
        self.sections[-1].parts.append((Path(path), caption))
        return self

    def write(self, path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        out = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(self.title)}</title>",
               f"<style>{_STYLE}</style></head><body><h1>{html.escape(self.title)}</h1>",
               f"<p class='note'>written {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC}</p>"]
        for sec in self.sections:
            out.append(f"<h2>{html.escape(sec.title)}</h2>")
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
