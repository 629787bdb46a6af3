"""What the approver reads: every value of the request exactly as it will be used.

Values are shown as Markdown code spans (the Required Actions page renders Markdown), so a
value cannot format itself as a heading, a link or an instruction to the approver, and the
approver sees its characters, not their rendering.
"""

from __future__ import annotations

import json
import re

from prodops.request.form import ProductionRequest

_BACKTICKS = re.compile(r"`+")


def code_span(value: object) -> str:
    """``value`` as a Markdown code span that shows it verbatim, whatever backticks it holds."""
    text = value if isinstance(value, str) else json.dumps(value)
    if text == "":
        return "*(empty)*"
    fence = "`" * (max((len(m) for m in _BACKTICKS.findall(text)), default=0) + 1)
    pad = " " if text.startswith(("`", " ")) or text.endswith(("`", " ")) else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def approval_subject(request_id: int, request: ProductionRequest) -> str:
    """One line: identifiers are a closed character class (see the form), so plain text is exact."""
    return f"Approve production request {request_id} ({request.experiment} / {request.campaign})"


def approval_body(request: ProductionRequest) -> str:
    """Every field of the form, each value verbatim."""
    rows = [
        ("Experiment", request.experiment),
        ("Campaign", request.campaign),
        ("Workflow", request.workflow),
        ("Jobs", request.n_jobs if request.n_jobs is not None else "from the input dataset"),
        ("Input dataset", request.input_dataset or ""),
        ("Memory / disk / wall time per job",
         f"{request.request_memory_mb} MB / {request.request_disk_mb} MB / {request.max_wall_time_min} min"),
        ("Requested priority", request.priority),
        ("Contact", request.contact),
        ("Workflow options", request.workflow_options),
        ("Justification", request.justification),
    ]
    return "  \n".join(f"**{name}:** {code_span(value)}" for name, value in rows)
