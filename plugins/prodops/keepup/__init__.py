"""Keepup that follows the detector: new files of a campaign's dataset become production requests.

A keepup campaign (:mod:`.campaigns`: include/keepup.yaml, or the Airflow Variable
``prodops_keepup_campaigns``) names a dataset, the keepup request's fields and a cap of jobs per
day. The ``keepup_follower`` DAG runs :func:`.follow.follow` on a schedule: for each campaign
with a standing approval (:mod:`.decisions`, asked once per definition through the
``keepup_campaign_approval`` DAG), the dataset's files not claimed yet (:mod:`.listing`,
:func:`.plan.new_files`) are cut into batches within the day's cap (:func:`.plan.plan_batches`) and
claimed with their batch in one transaction (:mod:`.claims`), then each batch is triggered as a
``production_request`` run whose dataset is ``keepup:<campaign>:<batch>`` (:mod:`.dataset`). The
request's approval gate approves such a run by the standing approval (:func:`.decisions.standing_approval`).
"""
