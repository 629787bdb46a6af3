"""The OpenAPI documents every request body, the documenting models and the validating adapters name the
same fields, operator rights are Airflow's own, and a feeder's text reaches the dashboard as plain text."""

from __future__ import annotations

import pytest

from prodops.status.events import NAGIOS_FIELDS, NATIVE_FIELDS
from prodops.status.maintenance import ANNOUNCEMENT_FIELDS, WINDOW_FIELDS
from prodops.web.alerts import plain
from prodops.web.api import schemas
from prodops.web.app import create_app, is_operator


@pytest.fixture(scope="module")
def openapi() -> dict:
    return create_app("postgresql://unused").openapi()


def test_every_write_documents_its_body_in_the_openapi(openapi):
    """The plugin's OpenAPI documented no request body (payloads typed Any): fuzzers could only send junk."""
    components = openapi["components"]["schemas"]
    writes = [(path, method, op) for path, ops in openapi["paths"].items() for method, op in ops.items()
              if method == "post"]
    assert len(writes) >= 8
    for path, method, op in writes:
        schema = op["requestBody"]["content"]["application/json"]["schema"]
        name = schema["$ref"].rsplit("/", 1)[1]
        assert name in components, f"{method} {path}: {name} is not in components"
        assert components[name].get("properties") or components[name].get("anyOf"), f"{path}: {name} is empty"


def test_bodies_are_documented_without_being_parsed_before_authentication(openapi):
    """The write routes read their body themselves (after authentication): FastAPI has no body parameter to parse."""
    app = create_app("postgresql://unused")
    for route in app.routes:
        if getattr(route, "methods", None) and "POST" in route.methods and route.path.startswith("/api/v1/"):
            assert route.dependant.body_params == [], f"{route.path} has a body parameter FastAPI reads first"


@pytest.mark.parametrize(("model", "fields"), [
    (schemas.NativeEvent, NATIVE_FIELDS), (schemas.CheckResult, NAGIOS_FIELDS),
    (schemas.WindowBody, WINDOW_FIELDS), (schemas.AnnouncementBody, ANNOUNCEMENT_FIELDS)])
def test_documented_fields_are_the_fields_the_adapters_accept(model, fields):
    assert set(model.model_fields) == fields


@pytest.mark.parametrize(("role", "operator"), [("viewer", False), ("user", False), ("op", True), ("admin", True)])
def test_operator_rights_are_airflows_pool_write_access(monkeypatch, role, operator):
    """Checked by the auth manager Airflow ships (here the simple one): its Op and Admin roles."""
    from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    manager = SimpleAuthManager()
    monkeypatch.setattr("airflow.api_fastapi.app.get_auth_manager", lambda: manager)
    assert is_operator(SimpleAuthManagerUser(username="paola", role=role)) is operator


@pytest.mark.parametrize(("text", "shown"), [
    ("[board](http://evil.example)", "\\[board\\]\\(http\\://evil.example\\)"),
    ("![img](x.png)", "\\!\\[img\\]\\(x.png\\)"),
    ("see www.evil.example or me@evil.example", "see www\\.evil.example or me\\@evil.example"),
    ("<script>x</script> *bold* `code` # title", "\\<script\\>x\\</script\\> \\*bold\\* \\`code\\` \\# title"),
    ("Keep-up paused until 12.03, 10-20% slower", "Keep-up paused until 12.03, 10-20% slower"),
])
def test_plain_text_escapes_every_markdown_construct(text, shown):
    assert plain(text) == shown
