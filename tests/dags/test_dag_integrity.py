"""Every DAG file imports cleanly, without touching a database or the network, and is well formed."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

DAGS = Path(__file__).parents[2] / "dags"


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    def refuse(*args, **kwargs):
        raise AssertionError("a DAG file opened a network connection while being parsed")

    mp = pytest.MonkeyPatch()
    mp.setattr(socket.socket, "connect", refuse)
    mp.setattr("psycopg.connect", refuse)
    try:
        return DagBag(dag_folder=str(DAGS))
    finally:
        mp.undo()


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}, "\n".join(f"{k}: {v}" for k, v in dagbag.import_errors.items())


def test_expected_dags_are_present(dagbag):
    assert "production_request" in dagbag.dags


def test_every_dag_has_tags_owner_and_docs(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, f"{dag_id} has no tags"
        assert dag.doc_md, f"{dag_id} has no doc_md"
        for t in dag.tasks:
            assert t.owner and t.owner != "airflow", f"{dag_id}.{t.task_id} has no owner"
            assert t.retries <= 3, f"{dag_id}.{t.task_id} retries {t.retries} times"


def test_production_request_reads_like_the_lifecycle(dagbag):
    dag = dagbag.dags["production_request"]
    order = ["validate_request", "await_approval", "preflight", "choose_workflow",
             "mc_chain.gen.submit_stage", "mc_chain.gen.track_stage", "mc_chain.gen.triage_failures",
             "mc_chain.gen.retry_failures", "mc_chain.gen.collect_outputs",
             "mc_chain.gen.check_outputs", "mc_chain.g4.submit_stage", "mc_chain.reco.submit_stage",
             "mc_chain.merge.submit_stage", "mc_chain.merge.check_outputs", "report"]
    assert set(order) <= set(dag.task_ids)
    for upstream, downstream in zip(order, order[1:]):
        assert downstream in dag.get_task(upstream).get_flat_relative_ids(upstream=False)
    assert {"experiment", "campaign", "workflow", "n_jobs", "request_memory_mb", "priority", "contact"} <= set(dag.params)
    from prodops.operators.approval import RequestApprovalOperator
    from prodops.operators.track import TrackStageOperator

    assert isinstance(dag.get_task("await_approval"), RequestApprovalOperator)
    from prodops.operators.retry import RetryFailuresOperator

    assert isinstance(dag.get_task("mc_chain.gen.track_stage"), TrackStageOperator)
    assert isinstance(dag.get_task("mc_chain.gen.retry_failures"), RetryFailuresOperator)


def test_every_workflow_template_is_a_branch_of_stage_groups(dagbag):
    from prodops.workflows import load_templates

    dag = dagbag.dags["production_request"]
    choose = dag.get_task("choose_workflow")
    for template in load_templates().values():
        first = f"{template.name}.{template.stages[0].name}.preflight"
        assert first in choose.downstream_task_ids
        before = None
        for stage in template.stages:
            check = dag.get_task(f"{template.name}.{stage.name}.check_outputs")
            assert [a.uri for a in check.outlets] == [f"prodops://{template.name}/{stage.name}"]
            # every stage is gated on its own services right before it is submitted
            gate = dag.get_task(f"{template.name}.{stage.name}.preflight")
            assert (gate.workflow, gate.stage) == (template.name, stage.name)
            assert gate.downstream_task_ids == {f"{template.name}.{stage.name}.submit_stage"}
            assert gate.upstream_task_ids - {"validate_request"} == ({before} if before else {"choose_workflow"})
            before = check.task_id
        assert dag.get_task(f"{template.name}.{template.stages[-1].name}.check_outputs").downstream_task_ids == {"report"}


def test_batch_backend_comes_from_configuration(monkeypatch):
    import importlib.util

    from prodops.batch.registry import get_backend

    monkeypatch.setenv("PRODOPS_BATCH_BACKEND", "htcondor")
    spec = importlib.util.spec_from_file_location("production_request_htcondor", DAGS / "production_request.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.BACKEND == "htcondor"
    track = module.dag.get_task("mc_chain.gen.track_stage")
    assert track.backend == "htcondor" and get_backend("htcondor").name == "htcondor"
