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
    from prodops.workflows import load_templates

    assert "production_request" in dagbag.dags
    assert {f"workflow_{name}" for name in load_templates()} <= set(dagbag.dags)


def test_every_dag_has_tags_owner_and_docs(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, f"{dag_id} has no tags"
        assert dag.doc_md, f"{dag_id} has no doc_md"
        for t in dag.tasks:
            assert t.owner and t.owner != "airflow", f"{dag_id}.{t.task_id} has no owner"
            assert t.retries <= 3, f"{dag_id}.{t.task_id} retries {t.retries} times"


def test_production_request_is_the_form_the_gate_and_the_workflow_run(dagbag):
    from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator

    from prodops.operators.approval import RequestApprovalOperator

    dag = dagbag.dags["production_request"]
    assert set(dag.task_ids) == {"validate_request", "await_approval", "run_workflow"}
    assert dag.get_task("validate_request").downstream_task_ids == {"await_approval", "run_workflow"}
    assert dag.get_task("await_approval").downstream_task_ids == {"run_workflow"}
    assert isinstance(dag.get_task("await_approval"), RequestApprovalOperator)
    run = dag.get_task("run_workflow")
    assert isinstance(run, TriggerDagRunOperator)
    assert (run.trigger_dag_id, run.trigger_run_id) == ("workflow_{{ params.workflow }}", "{{ run_id }}")
    assert run.wait_for_completion and run.deferrable and run.failed_states == ["failed"]
    assert set(run.conf) == set(dagbag.dags["workflow_demo"].params) == {"request_id", "max_wall_time_min"}
    assert {"experiment", "campaign", "workflow", "n_jobs", "request_memory_mb", "priority", "contact"} <= set(dag.params)


def test_a_workflow_dag_reads_like_the_lifecycle(dagbag):
    from prodops.operators.retry import RetryFailuresOperator
    from prodops.operators.track import TrackStageOperator

    dag = dagbag.dags["workflow_mc_chain"]
    order = ["preflight", "gen.preflight", "gen.submit_stage", "gen.track_stage", "gen.triage_failures",
             "gen.retry_failures", "gen.collect_outputs", "gen.check_outputs", "g4.preflight", "g4.submit_stage",
             "reco.submit_stage", "merge.submit_stage", "merge.check_outputs", "report"]
    assert set(order) <= set(dag.task_ids)
    for upstream, downstream in zip(order, order[1:]):
        assert downstream in dag.get_task(upstream).get_flat_relative_ids(upstream=False)
    assert set(dag.params) == {"request_id", "max_wall_time_min"}
    assert isinstance(dag.get_task("gen.track_stage"), TrackStageOperator)
    assert isinstance(dag.get_task("gen.retry_failures"), RetryFailuresOperator)


def test_a_run_holds_task_instances_of_its_own_workflow_only(dagbag):
    """Issue 16: each workflow is its own DAG, so a run makes no skipped instances of the others."""
    from prodops.workflows import load_templates

    per_stage = {"preflight", "submit_stage", "track_stage", "triage_failures", "retry_failures",
                 "collect_outputs", "check_outputs"}
    for template in load_templates().values():
        dag = dagbag.dags[f"workflow_{template.name}"]
        expected = {"preflight", "report"} | {f"{s.name}.{t}" for s in template.stages for t in per_stage}
        assert set(dag.task_ids) == expected, template.name


def test_every_stage_is_gated_chained_and_published(dagbag):
    from prodops.workflows import load_templates

    for template in load_templates().values():
        dag = dagbag.dags[f"workflow_{template.name}"]
        before = "preflight"
        for stage in template.stages:
            check = dag.get_task(f"{stage.name}.check_outputs")
            assert [a.uri for a in check.outlets] == [f"prodops://{template.name}/{stage.name}"]
            # every stage is gated on its own services right before it is submitted
            gate = dag.get_task(f"{stage.name}.preflight")
            assert (gate.workflow, gate.stage) == (template.name, stage.name)
            assert gate.downstream_task_ids == {f"{stage.name}.submit_stage"}
            assert gate.upstream_task_ids == {before}
            before = check.task_id
        assert dag.get_task(f"{template.stages[-1].name}.check_outputs").downstream_task_ids == {"report"}


def test_batch_backend_comes_from_configuration(monkeypatch):
    import importlib.util

    from prodops.batch.registry import get_backend

    monkeypatch.setenv("PRODOPS_BATCH_BACKEND", "htcondor")
    spec = importlib.util.spec_from_file_location("workflows_htcondor", DAGS / "workflows.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.BACKEND == "htcondor"
    track = module.workflow_mc_chain.get_task("gen.track_stage")
    assert track.backend == "htcondor" and get_backend("htcondor").name == "htcondor"
