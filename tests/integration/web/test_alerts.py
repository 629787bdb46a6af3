"""Active announcements as Airflow dashboard alerts; a missing database never breaks the dashboard."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from prodops.status import records
from prodops.status.maintenance import parse_announcement
from prodops.store.db import connect
from prodops.web.alerts import AnnouncementAlerts

pytestmark = pytest.mark.integration


def test_active_announcements_become_ui_alerts(db_url):
    now = datetime.now(timezone.utc)
    with connect(db_url) as conn:
        records.upsert_announcement(conn, parse_announcement(
            {"text": "Tape writes paused", "severity": "critical", "author": "ops"}, feed="ops", now=now - timedelta(minutes=1)))
        records.upsert_announcement(conn, parse_announcement(
            {"text": "Old news", "end": (now - timedelta(minutes=5)).isoformat()}, feed="ops", now=now - timedelta(hours=1)))
        conn.commit()
    alerts = list(AnnouncementAlerts(db_url))
    assert [(a.category, a.text.split(" (")[0]) for a in alerts] == [("error", "Tape writes paused")]
    assert "/plugin/service-board" in alerts[0].text


def test_unreachable_database_gives_no_alerts_and_no_error():
    alerts = AnnouncementAlerts("postgresql://nobody@127.0.0.1:1/nothing?connect_timeout=1")
    assert list(alerts) == [] and len(alerts) == 0
