"""The prodops AirflowPlugin: mounts the service board app in the Airflow api-server, and listens
for failed production runs (their requests end ``failed``).

Airflow imports every ``.py`` file it finds under plugins/ as a top-level module; the package
``prodops/`` is listed in plugins/.airflowignore so only this file is scanned (the package is
imported normally, through sys.path).
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from prodops import listeners as prodops_listeners
from prodops.web.app import URL_PREFIX, create_app

board_app = create_app()


class ProdopsPlugin(AirflowPlugin):
    """Service board (``/prodops/``), its push API (``/prodops/api/v1/...``) and a navigation entry."""

    name = "prodops"
    listeners = [prodops_listeners]  # a failed production run ends its request (prodops.listeners)
    fastapi_apps = [{"app": board_app, "url_prefix": URL_PREFIX, "name": "prodops service board"}]
    external_views = [
        {
            "name": "Service board",
            "href": f"{URL_PREFIX}/",
            "destination": "nav",
            "url_route": "service-board",
            "nav_top_level": True,
        },
        {
            "name": "Production requests",
            "href": f"{URL_PREFIX}/requests/",
            "destination": "nav",
            "url_route": "production-requests",
            "nav_top_level": True,
        },
        {
            "name": "Grid hours",
            "href": f"{URL_PREFIX}/stats",
            "destination": "nav",
            "url_route": "grid-hours",
            "nav_top_level": True,
        },
    ]
