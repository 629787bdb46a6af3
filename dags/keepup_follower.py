"""
### Keepup follower

Every 10 minutes, for each keepup campaign (include/keepup.yaml, or the Airflow Variable
`prodops_keepup_campaigns` when it is set): `follow_campaigns` lists the campaign's dataset,
claims the files no batch claimed yet, cut into requests of `files_per_request` files within the
campaign's cap of jobs per UTC day (files over the cap wait, and the log says so), and records
each batch with its files in one transaction. `trigger_runs` triggers one `production_request`
run per batch (run id `keepup__<campaign>__<batch>`, dataset `keepup:<campaign>:<batch>`), whose
approval gate approves it by the campaign's standing approval. A campaign without one gets a
`keepup_campaign_approval` run (also by `trigger_runs`) and claims nothing until an approver
answers it. `campaigns_followed` fails the run when a campaign could not be followed.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import dag, task
from airflow.sdk.exceptions import AirflowFailException

from prodops.operators.campaign_approval import CampaignApprovalOperator

DEFAULTS = {"owner": "prodops", "retries": 1, "retry_delay": timedelta(minutes=1)}


@dag(
    dag_id="keepup_follower",
    schedule=timedelta(minutes=10),
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["prodops", "keepup"],
    default_args=DEFAULTS,
)
def keepup_follower() -> None:
    @task
    def follow_campaigns() -> list[dict]:
        """Claim each approved campaign's new files in batches within its cap; return the runs to trigger
        (the campaigns that could not be followed go to XCom ``errors``)."""
        from airflow.sdk import Variable, get_current_context

        from prodops.keepup import campaigns
        from prodops.keepup.follow import follow
        from prodops.store.db import url_from_connection

        followed, source = campaigns.load(Variable.get(campaigns.VARIABLE, default=None))
        logging.getLogger(__name__).info("%d keepup campaign(s) from %s", len(followed), source)
        done = follow(url_from_connection(), followed, datetime.now(timezone.utc))
        get_current_context()["ti"].xcom_push(key="errors", value=done.errors)
        return done.runs()

    followed = follow_campaigns()
    TriggerDagRunOperator.partial(
        task_id="trigger_runs", logical_date=None,  # each run names its DAG (production_request or the approval)
        skip_when_already_exists=True, map_index_template="{{ task.trigger_run_id }}",
    ).expand_kwargs(followed)

    @task
    def campaigns_followed() -> None:
        """Fail the run when a campaign could not be followed (the others were)."""
        from airflow.sdk import get_current_context

        errors = get_current_context()["ti"].xcom_pull(task_ids="follow_campaigns", key="errors")
        if errors:
            raise AirflowFailException("\n".join(errors))

    followed >> campaigns_followed()


@dag(
    dag_id="keepup_campaign_approval",
    schedule=None,
    catchup=False,
    doc_md="### Standing approval of a keepup campaign\n\nTriggered by `keepup_follower` once per campaign"
           " definition: an approver approves (or rejects) it under Required Actions; approved, the"
           " follower starts at once.",
    tags=["prodops", "keepup"],
    default_args={"owner": "prodops", "retries": 0},
)
def keepup_campaign_approval() -> None:
    gate = CampaignApprovalOperator(task_id="approve_campaign", campaign="{{ dag_run.conf['campaign'] }}",
                                    definition_hash="{{ dag_run.conf['definition_hash'] }}", retries=2,
                                    retry_delay=timedelta(seconds=10))
    gate >> TriggerDagRunOperator(task_id="start_following", trigger_dag_id="keepup_follower", logical_date=None)


keepup_follower()
keepup_campaign_approval()
