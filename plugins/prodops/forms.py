"""What every form prodops reads has in common (pydantic models of page filters and DAG forms)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator


class FormModel(BaseModel):
    """A form's fields, none but those declared. An HTML or Airflow form sends every field; an
    empty one is not set, so its default applies (and a required one is reported missing)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _empty_is_not_set(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {name: value for name, value in data.items() if value != ""}
        return data
