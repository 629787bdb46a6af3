"""Airflow local settings (Airflow imports this from plugins/, which it puts on sys.path).

prodops uses it for one thing: the service board's active announcements appear as dashboard
alerts in the Airflow UI. Nothing here may break Airflow: any error leaves the alerts empty.
"""

from __future__ import annotations

__all__ = ["DASHBOARD_UIALERTS"]

try:
    from prodops.web.alerts import AnnouncementAlerts

    DASHBOARD_UIALERTS: list = AnnouncementAlerts()
except Exception:  # noqa: BLE001 - e.g. plugins/ without the prodops package on sys.path
    DASHBOARD_UIALERTS = []
