"""Keepup campaigns: what the follower follows, from include/keepup.yaml or an Airflow Variable.

A campaign names the dataset it follows, the keepup request's fields (the production request
form's, less those the follower sets), the files per request and a cap of jobs per day. The
whole definition is hashed: a standing approval holds for the definition it was given for, so
any change (another dataset, a higher cap, more memory) asks an approver again.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from prodops import config
from prodops.datasets import dataset_error
from prodops.datasets.model import MAX_FILES
from prodops.exceptions import FileInvalid, RequestInvalid
from prodops.request.form import IDENTIFIER, ProductionRequest, validate_request
from prodops.workflows import WorkflowTemplate, load_templates

CAMPAIGNS_FILE = config.INCLUDE_DIR / "keepup.yaml"
VARIABLE = "prodops_keepup_campaigns"
"""The Airflow Variable that, when set, replaces the file's campaigns (same YAML or JSON text)."""

FOLLOWER_SETS = ("experiment", "campaign", "workflow", "input_dataset", "n_jobs")
"""Fields of the request form the follower fills in; a campaign's ``request:`` gives the others."""


class CampaignsInvalid(FileInvalid):
    """The campaigns' file or Variable is malformed; ``errors`` maps campaign.field -> message."""


class Campaign(BaseModel):
    """One campaign's definition (the name is its key in ``campaigns:``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    experiment: str
    dataset: str = Field(description="file:///<absolute glob>, sam:<definition> or metacat:<namespace>:<name>")
    workflow: str = "keepup"
    files_per_request: int = Field(50, ge=1, le=MAX_FILES)
    max_jobs_per_day: int = Field(ge=1, description="jobs (every stage) of the batches claimed per UTC day")
    request: dict[str, Any] = Field(default_factory=dict, description="the rest of the production request form")


@dataclass(frozen=True)
class Followed:
    """A campaign as the follower uses it: name, definition and the definition's hash."""

    name: str
    campaign: Campaign
    definition_hash: str

    def conf(self, batch: int) -> dict[str, Any]:
        """The production request of one batch, as the form's fields (what the run is triggered with)."""
        return request_conf(self.name, self.campaign, batch)

    def request(self) -> ProductionRequest:
        return ProductionRequest(**self.conf(1))


def batch_dataset(name: str, batch: int) -> str:
    return f"keepup:{name}:{batch}"


def request_conf(name: str, campaign: Campaign, batch: int) -> dict[str, Any]:
    raw = {**campaign.request, "experiment": campaign.experiment, "campaign": name, "workflow": campaign.workflow,
           "input_dataset": batch_dataset(name, batch), "n_jobs": None}
    return validate_request(raw, load_templates()).as_form()


def definition_hash(name: str, campaign: Campaign) -> str:
    text = json.dumps({"campaign": name, **campaign.model_dump()}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def parse(data: Any, source: Path | str, templates: Mapping[str, WorkflowTemplate] | None = None) -> list[Followed]:
    """The campaigns of ``campaigns:``, each checked as the request form and the datasets check
    them (no network call); every problem named at once."""
    if data is None:
        return []
    if not isinstance(data, Mapping) or set(data) - {"campaigns"}:
        raise CampaignsInvalid(source, {"file": "must be `campaigns:` mapping a campaign name to its definition"})
    entries = data.get("campaigns") or {}
    if not isinstance(entries, Mapping):
        raise CampaignsInvalid(source, {"campaigns": "must map a campaign name to its definition"})
    templates = load_templates() if templates is None else templates
    errors: dict[str, str] = {}
    found = []
    for name, entry in entries.items():
        where = str(name)
        if not isinstance(name, str) or not re.match(IDENTIFIER, name) or len(name) > 128:
            errors[where] = "a campaign name is letters, digits and _ . + - (it is the request's campaign)"
            continue
        try:
            campaign = Campaign.model_validate(entry)
        except ValidationError as err:
            for problem in err.errors():
                errors[".".join([where, *map(str, problem["loc"])])] = problem["msg"]
            continue
        errors.update(_campaign_errors(name, campaign, templates))
        found.append(Followed(name, campaign, definition_hash(name, campaign)))
    if errors:
        raise CampaignsInvalid(source, errors)
    return found


def _campaign_errors(name: str, campaign: Campaign, templates: Mapping[str, WorkflowTemplate]) -> dict[str, str]:
    errors = {f"{name}.request.{field}": "is set by the follower; leave it out"
              for field in FOLLOWER_SETS if field in campaign.request}
    template = templates.get(campaign.workflow)
    if template is None or template.input != "dataset":
        readers = sorted(t.name for t in templates.values() if t.input == "dataset")
        errors[f"{name}.workflow"] = f"{campaign.workflow!r} is not a workflow that reads a dataset ({', '.join(readers)})"
    if campaign.dataset.startswith("keepup:"):
        errors[f"{name}.dataset"] = "a campaign follows a detector dataset, not another campaign's batch"
    elif problem := dataset_error(campaign.dataset):
        errors[f"{name}.dataset"] = problem
    if errors:
        return errors
    try:
        request_conf(name, campaign, 1)
    except RequestInvalid as err:
        errors.update({f"{name}.request.{field}": message for field, message in err.errors.items()})
    return errors


def load(variable: str | None = None, path: Path = CAMPAIGNS_FILE) -> tuple[list[Followed], str]:
    """The campaigns and where they were read: the Variable's text when it is set, else the file."""
    if variable is not None:
        source = f"Airflow Variable {VARIABLE}"
        text = variable
    else:
        source = str(path)
        if not path.exists():
            return [], source
        text = path.read_text()
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise CampaignsInvalid(source, {"file": f"cannot be read as YAML or JSON: {err}"}) from None
    return parse(data, source), source


def find(campaigns: list[Followed], name: str) -> Followed | None:
    return next((c for c in campaigns if c.name == name), None)
