"""Airflow discovers the prodops plugin from plugins/, and only it: the package is not re-imported."""

from __future__ import annotations

from pathlib import Path

PLUGINS = Path(__file__).resolve().parents[3] / "plugins"


def test_plugin_directory_yields_exactly_the_prodops_plugin_without_errors():
    from airflow._shared.plugins_manager.plugins_manager import _load_plugins_from_plugin_directory

    plugins, errors = _load_plugins_from_plugin_directory(str(PLUGINS))
    assert errors == {}
    assert [p.name for p in plugins] == ["prodops"]
    [plugin] = plugins
    [app] = plugin.fastapi_apps
    assert app["url_prefix"] == "/prodops"
    paths = {route.path for route in app["app"].routes}
    assert {"/", "/api/v1/events", "/api/v1/alertmanager", "/api/v1/checks", "/api/v1/maintenance",
            "/api/v1/announcements", "/api/v1/board", "/api/v1/tokens"} <= paths
    assert {(v["destination"], v["href"]) for v in plugin.external_views} == {
        ("nav", "/prodops/"), ("nav", "/prodops/requests/"), ("nav", "/prodops/stats")}
    assert {"/requests/", "/requests/{request_id}", "/api/v1/requests", "/api/v1/requests/{request_id}"} <= paths


def test_every_route_has_an_auth_dependency():
    """Plugin apps get no Airflow auth: each route must bring its own (feeder token or Airflow login)."""
    from prodops.web.app import create_app

    app = create_app("postgresql://unused")
    open_paths = {"/docs", "/openapi.json", "/docs/oauth2-redirect", "/redoc"}
    for route in app.routes:
        if getattr(route, "path", None) in open_paths or not hasattr(route, "dependant"):
            continue
        names = {d.call.__name__ for d in route.dependant.dependencies if d.call}
        assert names & {"writer", "steward", "person", "viewer", "token_admin", "job_scope"}, f"{route.path} has no authentication dependency"
