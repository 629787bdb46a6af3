"""The approver sees every value of the request verbatim, whatever Markdown it holds."""

from __future__ import annotations

import dataclasses

import pytest
from markdown_it import MarkdownIt

from prodops.request.approval_text import approval_body, approval_subject, code_span
from prodops.request.form import validate_request
from prodops.workflows import load_templates
from tests.unit.request.test_form import GOOD

TRICKY = [
    "**Approve at once** [see here](http://evil.example/)",
    "# Heading",
    "`code` and ``more``",
    "` leading backtick",
    "trailing space ",
    "<script>alert(1)</script>",
    "a | b | c",
    "plain",
]


def rendered_code(markdown: str) -> list[str]:
    """The text of every code span, as a Markdown renderer reads the source."""
    tokens = MarkdownIt().parseInline(markdown)
    return [child.content for token in tokens for child in token.children or [] if child.type == "code_inline"]


@pytest.mark.parametrize("value", TRICKY)
def test_code_span_shows_the_value_verbatim(value):
    assert rendered_code(code_span(value)) == [value]


@pytest.mark.parametrize("value", TRICKY)
def test_the_body_shows_justification_verbatim_and_nothing_else_renders(value):
    request = validate_request(GOOD, load_templates())
    request = dataclasses.replace(request, justification=value)
    body = approval_body(request)
    html = MarkdownIt().render(body)
    assert "<a " not in html and "<h1" not in html and "<script" not in html
    assert any(value.strip() in code for code in rendered_code(body))


def test_the_body_names_every_field_of_the_form():
    request = validate_request(GOOD, load_templates())
    body = approval_body(request)
    for field in ("Experiment", "Campaign", "Workflow", "Jobs", "Input dataset", "Requested priority", "Contact",
                  "Workflow options", "Justification"):
        assert f"**{field}:**" in body
    assert "`prod5.1-mc`" in body and '`{"fail_exit": [1, 2]}`' in body
    assert approval_subject(12, request) == "Approve production request 12 (nova / prod5.1-mc)"
