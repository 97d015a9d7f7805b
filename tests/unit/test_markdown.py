"""The rules of webclient.timeline.markdown: what gets a `formatted_body`, and what it is.

Pure functions only: no Django.
"""

from __future__ import annotations

import pytest

from webclient.timeline.markdown import render_markdown
from webclient.timeline.sanitize import clean_html

PLAIN = [
    "hello",
    "waves",  # the body of `/me waves` once the composer has taken off `/me `
    "/me waves",
    "line one\nline two",
    "paragraph one\n\nparagraph two",
    "see https://example.org/page?a=1&b=2",
    "<b>not html</b>",
    "<script>alert(1)</script>",
    "2 * 3 * 4",
    "snake_case_name and file_name_here",
    "tom & jerry < 3 \"quotes\" 'apostrophes'",
    "[x](javascript:alert(1))",
    "  indented a little",
    "",
]


@pytest.mark.parametrize("body", PLAIN)
def test_plain_text_gets_no_formatted_body(body):
    assert render_markdown(body) is None


FORMATTED = {
    "*emphasis*": "<em>emphasis</em>",
    "_emphasis_": "<em>emphasis</em>",
    "**strong**": "<strong>strong</strong>",
    "`code`": "<code>code</code>",
    "~~gone~~": "<s>gone</s>",
    "```python\nx = 1\n```": '<pre><code class="language-python">x = 1\n</code></pre>\n',
    "```\nno language\n```": "<pre><code>no language\n</code></pre>\n",
    "[a link](https://example.org)": (
        '<a href="https://example.org" rel="noopener" target="_blank">a link</a>'
    ),
    "<https://example.org>": (
        '<a href="https://example.org" rel="noopener" target="_blank">https://example.org</a>'
    ),
    "- one\n- two": "<ul>\n<li>one</li>\n<li>two</li>\n</ul>\n",
    "3. three\n4. four": '<ol start="3">\n<li>three</li>\n<li>four</li>\n</ol>\n',
    "> quoted": "<blockquote>\n<p>quoted</p>\n</blockquote>\n",
    "# Heading": "<h1>Heading</h1>\n",
    "### Small heading": "<h3>Small heading</h3>\n",
    "---": "<hr>\n",
    "*one*\ntwo": "<em>one</em><br>\ntwo",
    "1\\. not a list": "1. not a list",
    "AT&amp;T": "AT&amp;T",
}


@pytest.mark.parametrize(("body", "expected"), FORMATTED.items())
def test_markdown_gives_formatted_body(body, expected):
    assert render_markdown(body) == expected


def test_emphasis_is_formatted():
    # One paragraph is sent without its <p> wrapper, as Element does.
    assert render_markdown("I *really* mean it") == "I <em>really</em> mean it"


def test_raw_html_is_escaped_not_passed_through():
    html = render_markdown("**bold** <script>alert(1)</script> <img src=x onerror=alert(1)>")
    assert html is not None
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;" in html


def test_unsafe_link_targets_are_not_linked():
    html = render_markdown("**x** [y](javascript:alert(1)) [z](/relative)")
    assert html is not None
    assert 'href="javascript' not in html
    assert 'href="/relative"' not in html
    assert "[y](javascript:alert(1))" in html  # left as the text it was


@pytest.mark.parametrize("body", [*FORMATTED, "**x** <b>y</b> [z](/relative) ![cat](mxc://a/b)"])
def test_formatted_body_already_obeys_the_whitelist(body):
    html = render_markdown(body)
    assert html is not None
    assert clean_html(html) == html
