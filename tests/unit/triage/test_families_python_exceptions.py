"""Python exception classes added to include/triage/framework_categories.yaml from the Python and
requests documentation (the class names are the documentation's; messages here are synthetic)."""

from __future__ import annotations

import pytest

from prodops.constants import Category
from prodops.triage.parsers import load_categories

# (class as a traceback prints it, category, service, retryable) - names from
# https://docs.python.org/3/library/exceptions.html, .../http.client.html, .../ssl.html and
# https://requests.readthedocs.io/en/latest/api/#exceptions
CLASSES = [
    ("FileExistsError", Category.CODE, None, False),
    ("UnicodeDecodeError", Category.CODE, None, False),
    ("OverflowError", Category.CODE, None, False),
    ("StopIteration", Category.CODE, None, False),
    ("http.client.IncompleteRead", Category.SERVICE, "network", True),
    ("ssl.SSLCertVerificationError", Category.SERVICE, "auth", False),
    ("requests.exceptions.ChunkedEncodingError", Category.SERVICE, "network", True),
]


@pytest.mark.parametrize("name, category, service, retryable", CLASSES, ids=[c[0] for c in CLASSES])
def test_the_documented_class_is_in_the_table(name, category, service, retryable):
    rule = load_categories().python(name)
    assert rule is not None, name
    assert (rule.category, rule.service, rule.retryable) == (category, service, retryable)
