"""
### Debug rerun

Runs chosen jobs of a production request again with debug turned up, to read what they say.
The form names the request and either job indexes (with the stage when the workflow has several)
or a triage filter (category, signature, site: the triage page's "rerun with debug" link fills them
in), and the debug settings: a level the workflow's template declares, overrides it accepts, keep
intermediate files, more memory. Anything else is refused, naming the field.

`submit_rerun` (the jobs again under their job indexes, as a debug attempt linked to the attempt
each reruns; the template's `debug:` block says how the level reaches the job) -> `track_rerun`
(in the triggerer, as a stage is tracked; it ends when the stage's jobs are all final) ->
`triage_rerun` (the jobs' phase markers and verdicts; original and rerun side by side in the log
and on the request page). A debug attempt never counts as production (outputs, DQ, the job's
outcome); accounting counts its hours as wasted (`debug_rerun`). See README, "Debug rerun".
"""

from __future__ import annotations

import logging

from airflow.sdk import Param, dag, get_current_context, task

from prodops import config
from prodops.constants import Category
from prodops.operators.track import TrackStageOperator
from prodops.rerun.settings import MAX_MEMORY_MB

BACKEND = config.batch_backend()
log = logging.getLogger(__name__)


@dag(
    dag_id="debug_rerun",
    schedule=None,
    catchup=False,
    doc_md=__doc__,
    tags=["prodops", "debug"],
    default_args={"owner": "prodops", "retries": 0},
    max_active_runs=8,
    params={
        "request_id": Param(1, type="integer", minimum=1, title="Request", description="The production request id."),
        "stage": Param("", type="string", maxLength=80, title="Stage",
                       description="The stage of the jobs (needed when the workflow has several)."),
        "job_indexes": Param([], type="array", items={"type": "integer", "minimum": 0}, title="Job indexes",
                             description="Jobs to rerun; empty: the failed jobs the filter below matches."),
        "category": Param("", type="string", enum=["", *(c.value for c in Category)], title="Triage category"),
        "signature": Param("", type="string", maxLength=128, title="Failure signature",
                           description="A failure signature of the triage page."),
        "site": Param("", type="string", maxLength=128, title="Site", description="Only jobs that failed at this site."),
        "level": Param("debug", type="string", pattern="^[a-z][a-z0-9_]{0,19}$", title="Debug level",
                       description="One of the levels the workflow's template declares (debug.levels)."),
        "overrides": Param({}, type="object", title="Overrides",
                           description="Values for the overrides the template declares (debug.overrides)."),
        "keep_intermediate": Param(True, type="boolean", title="Keep intermediate files"),
        "request_memory_mb": Param(None, type=["null", "integer"], minimum=1, maximum=MAX_MEMORY_MB,
                                   title="Memory (MB)", description="Empty: what the attempt requested."),
    },
)
def debug_rerun() -> None:
    @task(retries=2)
    def submit_rerun() -> dict:
        """Check the form, choose the attempts and submit them once with debug (prodops.rerun.submit)."""
        from prodops.batch.registry import get_backend
        from prodops.rerun.submit import submit_debug_rerun
        from prodops.store.db import url_from_connection

        ctx = get_current_context()
        p = ctx["params"]
        selection = {k: p[k] for k in ("request_id", "stage", "job_indexes", "category", "signature", "site")}
        debug = {k: p[k] for k in ("level", "overrides", "keep_intermediate", "request_memory_mb")}
        made = submit_debug_rerun(url_from_connection(), get_backend(BACKEND), selection, debug, run_id=ctx["run_id"],
                                  requested_by=getattr(ctx["dag_run"], "triggering_user_name", None) or "")
        return made.to_dict()

    @task(retries=1)
    def triage_rerun(made: dict) -> list:
        """The rerun's phase markers and verdicts, then each rerun beside the attempt it reruns."""
        from prodops.phases.harvest import harvest_stage
        from prodops.rerun.views import debug_reruns
        from prodops.store.db import connect, url_from_connection
        from prodops.triage.service import triage_stage

        db = url_from_connection()
        harvest_stage(db, made["request_id"], made["stage"])
        triage_stage(db, made["request_id"], made["stage"])
        with connect(db) as conn:
            pairs = [p for p in debug_reruns(conn, made["request_id"]) if p["rerun"]["submission_id"] ==
                     made["submission_id"]]
        for p in pairs:
            o, r = p["original"], p["rerun"]
            log.info("job %s: attempt %s exit %s %s/%s -> debug attempt %s exit %s %s/%s", p["job_index"],
                     o["attempt"], o["exit_code"], o["category"], o["rule"], r["attempt"], r["exit_code"],
                     r["category"], r["rule"])
        return [{"job_index": p["job_index"], "original": {k: p["original"][k] for k in ("exit_code", "category")},
                 "rerun": {k: p["rerun"][k] for k in ("submission_id", "exit_code", "outcome", "category", "rule")}}
                for p in pairs]

    made = submit_rerun()
    track = TrackStageOperator(task_id="track_rerun", submission_id=made["submission_id"], backend=BACKEND)
    made >> track >> triage_rerun(made)


dag = debug_rerun()
