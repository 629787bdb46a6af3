"""The stage's last retry step: the retries its final triage planned, carried out as tracking does."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import Context

from prodops.operators.track import StageRetriesOperator


class RetryFailuresOperator(StageRetriesOperator):
    """Runs after the stage's triage step. Tracking has retried what streaming triage planned while
    the stage ran; what is left here is what the final triage planned (e.g. with streaming off,
    or a verdict changed by an outage reported late). Usually it returns at once."""

    template_fields: Sequence[str] = ("request_id",)

    def __init__(self, *, request_id: int | str, stage: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.request_id = request_id
        self.stage = stage

    def execute(self, context: Context) -> dict[str, Any] | None:
        return self._go(int(self.request_id), self.stage)
