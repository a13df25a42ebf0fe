"""The Markdown of the OpenAPI descriptions, as HTML for the /docs page: a small, safe subset.

OpenAPI says descriptions are CommonMark; ours use only this much of it, so a
page that works offline needs no library for it:

- blocks, separated by blank lines: paragraphs, lists (`- `, `* ` or `1. `
  per line), tables (`| a | b |` rows with a `|---|` rule under the head);
- inline: `code`, **bold**, *emphasis*, [text](/link).

Everything is HTML-escaped before any markup is added, so a description can
never inject a tag; a link is kept only when it stays on this origin or goes
to http(s); any other (`javascript:`) stays text, as written. Pure: text in, HTML out.
"""

from __future__ import annotations

import html
import re

__all__ = ["inline", "to_html"]

_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_EM = re.compile(r"(?<![*\w])\*(?!\s)(.+?)(?<!\s)\*(?![*\w])")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
_SAFE_URL = re.compile(r"(?:https?://|/|#)[^\s\"'<>]*")
_BULLET = re.compile(r"[-*] +(.*)")
_NUMBERED = re.compile(r"[0-9]+\. +(.*)")
_RULE = re.compile(r"\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?")
# Code spans are cut out first (nothing inside them is markup) and put back
# last; this marker cannot occur in escaped text.
_HOLE = "\x00{}\x00"


def _link(match: re.Match[str]) -> str:
    text, url = match.group(1), html.unescape(match.group(2))
    if not _SAFE_URL.fullmatch(url):
        return match.group(0)  # left as written: visibly not a link
    return f'<a href="{html.escape(url, quote=True)}">{text}</a>'


def inline(text: str) -> str:
    """One line (or paragraph) of Markdown as HTML: code, bold, emphasis, links; escaped."""
    spans: list[str] = []

    def cut(match: re.Match[str]) -> str:
        spans.append(f"<code>{match.group(1)}</code>")
        return _HOLE.format(len(spans) - 1)

    out = _CODE.sub(cut, html.escape(text, quote=False))
    out = _LINK.sub(_link, out)
    out = _BOLD.sub(r"<strong>\1</strong>", out)
    out = _EM.sub(r"<em>\1</em>", out)
    for i, span in enumerate(spans):
        out = out.replace(_HOLE.format(i), span)
    return out


def _cells(row: str) -> list[str]:
    row = row.strip()
    row = row.removeprefix("|").removesuffix("|")
    return [cell.strip() for cell in row.split("|")]


def _table(lines: list[str]) -> str:
    head, body = _cells(lines[0]), [_cells(line) for line in lines[2:]]
    parts = ["<table><thead><tr>"]
    parts += [f"<th>{inline(cell)}</th>" for cell in head]
    parts.append("</tr></thead><tbody>")
    for row in body:
        parts.append("<tr>" + "".join(f"<td>{inline(cell)}</td>" for cell in row) + "</tr>")
    parts.append("</tbody></table>")
    return "".join(parts)


def _list(lines: list[str], pattern: re.Pattern[str], tag: str) -> str:
    items: list[str] = []
    for line in lines:
        match = pattern.fullmatch(line.strip())
        if match:
            items.append(match.group(1))
        elif items:  # a continuation line of the item above
            items[-1] += " " + line.strip()
    return f"<{tag}>" + "".join(f"<li>{inline(item)}</li>" for item in items) + f"</{tag}>"


def _block(lines: list[str]) -> str:
    first = lines[0].strip()
    if first.startswith("|") and len(lines) >= 2 and _RULE.fullmatch(lines[1].strip()):
        return _table(lines)
    if _BULLET.fullmatch(first):
        return _list(lines, _BULLET, "ul")
    if _NUMBERED.fullmatch(first):
        return _list(lines, _NUMBERED, "ol")
    return "<p>" + inline(" ".join(line.strip() for line in lines)) + "</p>"


def to_html(text: str) -> str:
    """A description as HTML blocks: paragraphs, lists and tables, each escaped."""
    blocks: list[list[str]] = [[]]
    for line in text.strip().splitlines():
        if line.strip():
            blocks[-1].append(line)
        elif blocks[-1]:
            blocks.append([])
    return "".join(_block(lines) for lines in blocks if lines)
