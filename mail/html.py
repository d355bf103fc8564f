"""HTML mail made safe to show and plain to read.

`html_to_text` renders an HTML body as the plain text a careful mail client
would have sent: line breaks where blocks end, "- " and "1. " list items,
link targets in brackets, table rows on one line, and blockquotes as "> "
lines so the reply trimmer sees quoted history the same way in HTML-only mail.
`sanitize_html` keeps the formatting and drops everything that could run
code, leave the page, or tell a sender that the mail was read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import unquote

import nh3
from bs4 import BeautifulSoup, Comment, Tag
from bs4.element import Declaration, Doctype, NavigableString, ProcessingInstruction
from bs4.exceptions import ParserRejectedMarkup

# --- html_to_text ---------------------------------------------------------------

_SKIPPED = frozenset(
    {"head", "title", "style", "script", "template", "noscript", "meta", "link", "object", "embed"}
)
# Blocks that stand apart from their neighbours with a blank line.
_SPACED_BLOCKS = frozenset(
    {"p", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "table", "blockquote", "ul", "ol", "dl"}
)
_LINE_BLOCKS = frozenset(
    {
        "div",
        "section",
        "article",
        "header",
        "footer",
        "address",
        "center",
        "main",
        "nav",
        "aside",
        "figure",
        "figcaption",
        "dt",
        "dd",
        "li",
        "tr",
        "caption",
        "form",
        "fieldset",
        "details",
        "summary",
    }
)
_CELL_BLOCKS = frozenset(
    {"p", "div", "br", "ul", "ol", "table", "blockquote", "pre", "h1", "h2", "h3"}
)
_WHITESPACE = re.compile(r"[ \t\n\r\f\xa0\u200b]+")
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)
_NON_TEXT = (Comment, Declaration, Doctype, ProcessingInstruction)
# Outlook's plain-text rendering of the rule it puts above a quoted reply.
_OUTLOOK_RULE = "_" * 32


class _TextWriter:
    """Accumulates lines; knows the current quote prefix and list indentation."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.words: list[str] = []
        self.quote_depth = 0
        self.indent = ""
        self.marker = ""

    def text(self, text: str) -> None:
        if text:
            self.words.append(text)

    def end_line(self, keep_empty: bool = False) -> None:
        line = "".join(self.words).strip()
        self.words = []
        if line or keep_empty:
            self._emit(line)

    def blank_line(self) -> None:
        self.end_line()
        if self.lines and self.lines[-1].strip("> "):
            self._emit("")

    def preformatted(self, text: str) -> None:
        self.end_line()
        for line in text.strip("\n").split("\n"):
            self._emit(line.rstrip(), strip=False)

    def _emit(self, line: str, strip: bool = True) -> None:
        prefix = "> " * self.quote_depth
        if line:
            line = f"{self.indent}{self.marker}{line}" if self.marker else f"{self.indent}{line}"
            self.marker = ""
        self.lines.append((prefix + line).rstrip() if strip else prefix + line)

    def result(self) -> str:
        self.end_line()
        out: list[str] = []
        for line in self.lines:
            blank = not line.strip("> ")
            if blank and (not out or not out[-1].strip("> ")):
                continue  # never more than one blank line in a row
            out.append(line)
        while out and not out[-1].strip("> "):
            out.pop()
        return "\n".join(out)


class _Renderer:
    """Walks a parsed document without recursion (mail HTML can nest thousands deep)."""

    def __init__(self) -> None:
        self.out = _TextWriter()
        self.lists: list[list[int]] = []  # per open list: [next number] or [] for bullets
        self.cells: list[int] = []  # per open simple-table row: cells written so far
        self.simple_tables: list[bool] = []

    def render(self, root: Tag) -> str:
        stack: list[tuple[object, bool]] = [(root, True)]
        while stack:
            node, entering = stack.pop()
            if isinstance(node, NavigableString):
                self._string(node)
            elif isinstance(node, Tag) and entering:
                if self._enter(node):
                    stack.append((node, False))
                    stack.extend((child, True) for child in reversed(node.contents))
            elif isinstance(node, Tag):
                self._leave(node)
        return self.out.result()

    def _string(self, node: NavigableString) -> None:
        if isinstance(node, _NON_TEXT):
            return
        text = _WHITESPACE.sub(" ", str(node))
        words = self.out.words
        if text.startswith(" ") and (not words or words[-1].endswith(" ")):
            text = text[1:]  # HTML collapses white space across elements too
        self.out.text(text)

    def _enter(self, tag: Tag) -> bool:
        """Open `tag`; False when its content is not text at all."""
        name = tag.name
        if name in _SKIPPED or _HIDDEN_STYLE.search(str(tag.get("style", ""))):
            return False
        if name == "br":
            self._line_break()
        elif name == "hr":
            self.out.end_line()
            self.out.text(_OUTLOOK_RULE)
            self.out.end_line()
        elif name == "blockquote":
            self.out.blank_line()
            self.out.quote_depth += 1
        elif name in ("ul", "ol"):
            self._open_list(tag)
        elif name == "li":
            self._open_item()
        elif name == "table":
            self.out.blank_line()
            self.simple_tables.append(_is_simple_table(tag))
        elif name in ("td", "th") and self._in_simple_table():
            self._open_cell()
        elif name in ("td", "th"):
            self.out.end_line()
        elif name == "pre":
            self.out.blank_line()
            self.out.preformatted(tag.get_text())
            self.out.blank_line()
            return False
        elif name == "img":
            return False
        else:
            self._open_block(tag)
        return True

    def _leave(self, tag: Tag) -> None:
        name = tag.name
        if name == "a":
            self._link_target(tag)
        elif name == "blockquote":
            self.out.end_line()
            self.out.quote_depth -= 1
            self.out.blank_line()
        elif name in ("ul", "ol"):
            self.lists.pop()
            self.out.indent = "  " * max(len(self.lists) - 1, 0)
            if self.lists:
                self.out.end_line()  # a nested list ends inside its item
            else:
                self._close_block(tag)
        elif name == "table":
            self.simple_tables.pop()
            self.out.blank_line()
        elif name == "tr" and self._in_simple_table() and self.cells:
            self.cells.pop()
            self.out.end_line()
        elif name in ("td", "th") and not self._in_simple_table():
            self.out.end_line()
        elif name in _SPACED_BLOCKS or name in _LINE_BLOCKS:
            self._close_block(tag)

    def _line_break(self) -> None:
        if self._in_simple_table() and self.cells:
            self.out.text(" ")
        else:
            self.out.end_line(keep_empty=True)

    def _open_block(self, tag: Tag) -> None:
        name = tag.name
        if name == "tr" and self._in_simple_table():
            self.out.end_line()
            self.cells.append(0)
        elif self._in_simple_table() and self.cells:
            return  # inside a cell of a simple table everything stays on the row
        elif name in _SPACED_BLOCKS and not _is_outlook_paragraph(tag):
            self.out.blank_line()
        elif name in _SPACED_BLOCKS or name in _LINE_BLOCKS:
            self.out.end_line()

    def _close_block(self, tag: Tag) -> None:
        if self._in_simple_table() and self.cells:
            return
        if _is_outlook_paragraph(tag):
            # Word's HTML writes an empty line as <p class=MsoNormal>&nbsp;</p>.
            self.out.end_line(keep_empty=True)
        elif tag.name in _SPACED_BLOCKS:
            self.out.blank_line()
        else:
            self.out.end_line()

    def _open_list(self, tag: Tag) -> None:
        if self.lists:
            self.out.end_line()
        else:
            self.out.blank_line()
        if tag.name == "ol":
            start = str(tag.get("start", "1")).strip()
            # Bounded: int() of a hostile 5,000-digit string raises ValueError.
            self.lists.append([int(start) if start.isdigit() and len(start) < 10 else 1])
        else:
            self.lists.append([])
        self.out.indent = "  " * (len(self.lists) - 1)

    def _open_item(self) -> None:
        self.out.end_line()
        if self.lists and self.lists[-1]:
            number = self.lists[-1][0]
            self.lists[-1][0] += 1
            self.out.marker = f"{number}. "
        else:
            self.out.marker = "- "

    def _open_cell(self) -> None:
        if self.cells:
            if self.cells[-1]:
                self.out.text(" | ")
            self.cells[-1] += 1

    def _in_simple_table(self) -> bool:
        return bool(self.simple_tables) and self.simple_tables[-1]

    def _link_target(self, tag: Tag) -> None:
        href = str(tag.get("href", "")).strip()
        if not href or href.startswith(("#", "javascript:", "cid:", "data:")):
            return
        label = _WHITESPACE.sub(" ", tag.get_text()).strip()
        if label and _comparable_url(label) != _comparable_url(href):
            self.out.text(f" ({href})")


def _comparable_url(url: str) -> str:
    url = url.strip().lower()
    url = url.removeprefix("mailto:")
    return url.rstrip("/")


def _is_outlook_paragraph(tag: Tag) -> bool:
    """Word/Outlook paragraphs have no margins: they are lines, not paragraphs."""
    if tag.name != "p":
        return False
    classes: Iterable[str] = tag.get("class") or []
    return any(str(c).lower().startswith("mso") for c in classes)


def _is_simple_table(table: Tag) -> bool:
    """A data table (cells of plain text), not a layout table holding the whole mail."""
    for cell in table.find_all(("td", "th")):
        blocks = cell.find_all(_CELL_BLOCKS)
        if len(blocks) > 1 or any(b.name in ("table", "br", "ul", "ol") for b in blocks):
            return False
    return True


def html_to_text(html: str) -> str:
    """Plain text of an HTML body, readable and with quoted history marked by "> "."""
    try:
        soup = BeautifulSoup(html, "html.parser")
    except (AssertionError, ParserRejectedMarkup):
        # CPython's html.parser asserts on some "<![" marked sections (found by fuzzing:
        # "expected name token"); shown as text, the rest of the document still renders.
        soup = BeautifulSoup(html.replace("<!", "&lt;!"), "html.parser")
    return _Renderer().render(soup)


# --- sanitize_html ----------------------------------------------------------------

_ALLOWED_TAGS = frozenset(
    {
        "a",
        "abbr",
        "b",
        "blockquote",
        "br",
        "caption",
        "center",
        "cite",
        "code",
        "col",
        "colgroup",
        "dd",
        "del",
        "div",
        "dl",
        "dt",
        "em",
        "font",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "i",
        "img",
        "ins",
        "kbd",
        "li",
        "mark",
        "ol",
        "p",
        "pre",
        "q",
        "s",
        "small",
        "span",
        "strike",
        "strong",
        "sub",
        "sup",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "tr",
        "tt",
        "u",
        "ul",
    }
)
# Removed with everything inside them: their content is code, not text.
_DROPPED_WITH_CONTENT = frozenset(
    {
        "script",
        "style",
        "head",
        "title",
        "iframe",
        "frame",
        "frameset",
        "object",
        "embed",
        "applet",
        "template",
        "noscript",
        "select",
        "textarea",
        "svg",
        "math",
    }
)
_ALLOWED_ATTRIBUTES = {
    "*": {"title", "dir", "lang", "align"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan", "valign", "width"},
    "th": {"colspan", "rowspan", "valign", "width", "scope"},
    "table": {"border", "cellpadding", "cellspacing", "width"},
    "ol": {"start", "type"},
    "font": {"color", "size", "face"},
    "col": {"span", "width"},
    "colgroup": {"span", "width"},
}
# "cid" must pass the scheme check so the filter below can rewrite it.
_URL_SCHEMES = frozenset({"http", "https", "mailto", "cid"})


def _is_own_url(url: str) -> bool:
    """A site-relative path, an http(s) URL, or cid: kept as is (the parser keeps them)."""
    lowered = url.strip().lower()
    if lowered.startswith(("http://", "https://", "cid:")):
        return True
    return lowered.startswith("/") and not lowered.startswith("//") and "\\" not in lowered


def sanitize_html(
    html: str, cid_urls: Mapping[str, str] | None = None, *, remote_images: bool = False
) -> str:
    """HTML safe to embed in our pages.

    No scripts, event handlers, forms, frames, style sheets, base or meta tags,
    and no javascript: or data: URLs. Remote images are tracking pixels as often
    as not, so http(s) image sources are dropped unless `remote_images`.
    `cid:` sources (RFC 2392) become `cid_urls[content_id]`, or are dropped when
    the content-id is unknown.
    """
    mapping = dict(cid_urls or {})

    def keep(tag: str, attribute: str, value: str) -> str | None:
        if attribute not in ("src", "href"):
            return value
        url = value.strip()
        if url[:4].lower() == "cid:":
            target = mapping.get(unquote(url[4:]).strip("<>")) if tag == "img" else None
            # nh3 does not re-check what the filter returns: only our own kinds of URL pass.
            return target if target is not None and _is_own_url(target) else None
        if tag == "img" and not remote_images:
            return None
        return value

    return nh3.clean(
        html,
        tags=set(_ALLOWED_TAGS),
        clean_content_tags=set(_DROPPED_WITH_CONTENT),
        attributes={k: set(v) for k, v in _ALLOWED_ATTRIBUTES.items()},
        attribute_filter=keep,
        url_schemes=set(_URL_SCHEMES),
        strip_comments=True,
        link_rel="noopener noreferrer nofollow",
    )
