"""What the approver of a keepup campaign reads: the definition the standing approval is for."""

from __future__ import annotations

from prodops.keepup.campaigns import Followed
from prodops.request.approval_text import code_span


def campaign_body(followed: Followed) -> str:
    """Markdown; every configured value as a code span (it is data, never markup)."""
    from prodops.keepup.follow import jobs_of

    campaign = followed.campaign
    conf = followed.conf(1)
    per_request = jobs_of(followed)(campaign.files_per_request)
    fields = "\n".join(f"| {name} | {code_span(conf[name])} |" for name in sorted(conf)
                       if name not in ("campaign", "input_dataset", "n_jobs"))
    return "\n".join([
        f"The keepup follower asks for a **standing approval** of campaign {code_span(followed.name)}:"
        " once approved, every new file of its dataset is submitted as production requests of this form"
        " without asking again, within the cap. Any change to the campaign asks again.",
        "",
        "| | |",
        "| --- | --- |",
        f"| dataset followed | {code_span(campaign.dataset)} |",
        f"| files per request | {campaign.files_per_request} (a full request makes {per_request} jobs) |",
        f"| cap | {campaign.max_jobs_per_day} jobs per day (UTC); files over it wait for the next day |",
        fields,
        "",
        f"Definition {code_span(followed.definition_hash[:12])}. Reject to stop the campaign until it is changed.",
    ])
