"""A run report a person reads: one Markdown and one self-contained HTML page per run folder.

Sections hold paragraphs, tables, images (PNG files inside the run folder, linked relatively)
and links to the raw JSON. Both pages are written atomically, so a report is either the old
one or the new one, never half of each.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from mlip.utils import write_text_atomic


@dataclass
class Section:
    title: str
    blocks: list[tuple[str, Any]] = field(default_factory=list)

    def text(self, paragraph: str) -> "Section":
        self.blocks.append(("text", paragraph))
        return self

    def table(self, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> "Section":
        self.blocks.append(("table", (list(header), [list(r) for r in rows])))
        return self

    def image(self, path: Path, caption: str = "") -> "Section":
        self.blocks.append(("image", (Path(path), caption)))
        return self

    def link(self, path: Path, label: str | None = None) -> "Section":
        self.blocks.append(("link", (Path(path), label)))
        return self

    def code(self, text: str) -> "Section":
        self.blocks.append(("code", text))
        return self


def fmt(value: Any, digits: int = 3) -> str:
    """Numbers for tables: 3 significant digits, scientific outside 1e-3..1e5."""
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value:
            return "nan"
        if value != 0 and not 1e-3 <= abs(value) < 1e5:
            return f"{value:.{digits - 1}e}"
        return f"{value:.{digits}g}"
    return str(value)


@dataclass
class Report:
    """Build sections, then :meth:`write` ``report.md`` and ``report.html`` into ``root``."""

    title: str
    root: Path
    sections: list[Section] = field(default_factory=list)

    def section(self, title: str) -> Section:
        s = Section(title)
        self.sections.append(s)
        return s

    def _rel(self, path: Path) -> str:
        return Path(os.path.relpath(Path(path).resolve(), self.root.resolve())).as_posix()

    def images(self) -> list[Path]:
        return [value[0] for s in self.sections for kind, value in s.blocks if kind == "image"]

    def markdown(self) -> str:
        out = [f"# {self.title}", ""]
        for s in self.sections:
            out += [f"## {s.title}", ""]
            previous = None
            for kind, value in s.blocks:
                if previous == "link" and kind != "link":
                    out.append("")
                previous = kind
                if kind == "text":
                    out += [value, ""]
                elif kind == "code":
                    out += ["```bash", value, "```", ""]
                elif kind == "table":
                    header, rows = value
                    out.append("| " + " | ".join(header) + " |")
                    out.append("|" + "---|" * len(header))
                    out += ["| " + " | ".join(fmt(c) for c in r) + " |" for r in rows]
                    out.append("")
                elif kind == "image":
                    path, caption = value
                    out += [f"![{caption}]({self._rel(path)})", f"*{caption}*" if caption else "", ""]
                elif kind == "link":
                    path, label = value
                    out += [f"- [{label or Path(path).name}]({self._rel(path)})"]
            out.append("")
        return "\n".join(out).rstrip() + "\n"

    def html(self) -> str:
        e = html.escape
        body = [f"<h1>{e(self.title)}</h1>"]
        for s in self.sections:
            body.append(f"<h2>{e(s.title)}</h2>")
            links: list[str] = []
            for kind, value in s.blocks:
                if kind != "link" and links:
                    body.append("<ul>" + "".join(links) + "</ul>")
                    links = []
                if kind == "text":
                    body.append(f"<p>{e(value)}</p>")
                elif kind == "code":
                    body.append(f"<pre><code>{e(value)}</code></pre>")
                elif kind == "table":
                    header, rows = value
                    head = "".join(f"<th>{e(h)}</th>" for h in header)
                    rows_html = "".join("<tr>" + "".join(f"<td>{e(fmt(c))}</td>" for c in r) + "</tr>"
                                        for r in rows)
                    body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows_html}</tbody></table>")
                elif kind == "image":
                    path, caption = value
                    body.append(f'<figure><img src="{e(self._rel(path))}" alt="{e(caption)}">'
                                f"<figcaption>{e(caption)}</figcaption></figure>")
                elif kind == "link":
                    path, label = value
                    links.append(f'<li><a href="{e(self._rel(path))}">{e(label or Path(path).name)}</a></li>')
            if links:
                body.append("<ul>" + "".join(links) + "</ul>")
        style = ("body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
                 "table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.25rem .6rem;"
                 "text-align:right}th{background:#f3f3f3}img{max-width:100%}figure{margin:1rem 0}"
                 "pre{background:#f6f6f6;padding:.6rem;overflow-x:auto}")
        return (f"<!doctype html><html><head><meta charset='utf-8'><title>{e(self.title)}</title>"
                f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n")

    def write(self) -> tuple[Path, Path]:
        md, page = self.root / "report.md", self.root / "report.html"
        write_text_atomic(md, self.markdown())
        write_text_atomic(page, self.html())
        return md, page
