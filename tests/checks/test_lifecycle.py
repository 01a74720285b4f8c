"""Day 2 checks: a Job run on apply runs again after a failure; outside prod, what a stack holds
can be deleted and created again; a prod database's final snapshot never blocks the deletion of
the next database of its name."""

from __future__ import annotations

import json

from .helpers import findings, k8s, record
from .test_field_writers import builtin_server, writers

JOB_SPEC = {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}}}


def test_a_job_that_failed_on_one_apply_runs_again_on_the_next():
    again = k8s("Job", "batch/v1", "vector-access-1a2b", JOB_SPEC, annotations={"pulumi.com/replaceUnready": "true"})
    assert findings("MLRIG-DEP-011", again) == []


def test_a_fixed_name_job_without_replace_unready_is_stuck_after_a_failure():
    stuck = k8s("Job", "batch/v1", "vector-access-1a2b", JOB_SPEC)
    [found] = findings("MLRIG-DEP-011", stuck)
    assert "not run again" in found.message and "pulumi.com/replaceUnready" in found.hint


def test_a_dev_stack_empties_its_buckets_and_registries_and_frees_secret_names_on_delete():
    destroyable = (
        record("aws:s3/bucket:Bucket", "data", {"bucket": "d", "forceDestroy": True}),
        record("aws:ecr/repository:Repository", "app", {"name": "a", "forceDelete": True}),
        record("aws:secretsmanager/secret:Secret", "key", {"name": "k", "recoveryWindowInDays": 0}),
    )
    assert findings("MLRIG-DEP-012", *destroyable, tier="dev") == []


def test_a_dev_stack_with_a_bucket_that_keeps_its_objects_cannot_be_destroyed():
    stuck = (
        record("aws:s3/bucket:Bucket", "data", {"bucket": "d", "forceDestroy": False}),
        record("aws:ecr/repository:Repository", "app", {"name": "a"}),
        record("aws:secretsmanager/secret:Secret", "key", {"name": "k", "recoveryWindowInDays": 7}),
    )
    found = findings("MLRIG-DEP-012", *stuck, tier="staging")
    assert {(f.resource, f.message.split(" has ")[1]) for f in found} == {
        ("data", "forceDestroy=False"),
        ("app", "forceDelete=False"),
        ("key", "recoveryWindowInDays=7"),
    }


def test_prod_keeps_its_data_instead_so_the_destroyability_check_does_not_apply_there():
    kept = record("aws:s3/bucket:Bucket", "data", {"bucket": "d"}, protect=True, retainOnDelete=True)
    assert findings("MLRIG-DEP-012", kept, tier="prod") == []


def namespace() -> dict:
    return record("kubernetes:core/v1:Namespace", "ns", {"metadata": {"name": "demo"}})


def test_an_object_that_waits_for_its_namespace_through_a_component_passes():
    """Depending on a component waits for everything under it, the namespace included."""
    component = record("mlrig:project:Workspace", "workspace")
    ns = {**namespace(), "parent": component["urn"]}
    deployment = k8s("Deployment", "apps/v1", "server", {})
    deployment["options"]["dependsOn"] = [component["urn"]]
    assert findings("MLRIG-DEP-013", ns, component, deployment) == []


def test_a_disruption_budget_created_beside_its_namespace_is_reported():
    """The PodDisruptionBudgets of mlrig's replicated servers once had no dependency at all."""
    budget = k8s("PodDisruptionBudget", "policy/v1", "tracking", {"maxUnavailable": 1})
    [found] = findings("MLRIG-DEP-013", namespace(), budget)
    assert found.message == "PodDisruptionBudget tracking does not wait for namespace demo"


def test_an_object_that_waits_for_something_that_waits_for_its_namespace_passes():
    """Waiting is transitive: a budget that waits for its server waits for the server's namespace."""
    ns = namespace()
    server = k8s("Deployment", "apps/v1", "server", {})
    server["options"]["dependsOn"] = [ns["urn"]]
    budget = k8s("PodDisruptionBudget", "policy/v1", "server", {"maxUnavailable": 1})
    budget["options"]["dependsOn"] = [server["urn"]]
    assert findings("MLRIG-DEP-013", ns, server, budget) == []


def test_an_object_whose_component_waits_for_the_namespace_does_not_wait_itself():
    """A parent's dependsOn is not its children's: the engine starts a child as soon as it can."""
    ns = namespace()
    component = record("mlrig:project:Serving", "serving")
    component["options"]["dependsOn"] = [ns["urn"]]
    budget = {**k8s("PodDisruptionBudget", "policy/v1", "server", {"maxUnavailable": 1}), "parent": component["urn"]}
    [found] = findings("MLRIG-DEP-013", ns, component, budget)
    assert found.resource == "server"


def recording_template(records: dict[str, str]) -> dict:
    annotations = {"mlrig.io/recorded-fields": json.dumps(records)}
    return k8s("WorkflowTemplate", "argoproj.io/v1alpha1", "train", {}, annotations=annotations)


def test_a_template_built_from_a_record_the_stack_creates_passes():
    parameter = record("aws:ssm/parameter:Parameter", "image-tag", {"name": "/mlrig/demo/dev/release/rolled-image-tag"})
    template = recording_template({"mlrig-release": "/mlrig/demo/dev/release/rolled-image-tag"})
    assert findings("MLRIG-DEP-015", parameter, template, tier="dev") == []


def test_a_record_only_its_writer_creates_outlives_the_destroyed_environment():
    """The release CI's `put-parameter --overwrite` creates the parameter when the stack does not:
    `pulumi destroy` then leaves the tag behind, and the next dev stack builds with it."""
    template = recording_template({"mlrig-release": "/mlrig/demo/dev/release/rolled-image-tag"})
    [found] = findings("MLRIG-DEP-015", template, tier="dev")
    assert "/mlrig/demo/dev/release/rolled-image-tag, which the stack does not create" in found.message
    assert "leaves it behind" in found.message


def test_a_model_location_ignored_where_the_promote_step_moves_it_passes():
    ignored = builtin_server(ignored=["spec.predictor.model.storageUri"])
    assert findings("MLRIG-DEP-016", ignored, *writers()) == []


def test_a_model_location_ignored_where_nothing_moves_it_never_takes_a_renamed_model():
    """Without a Role that lets a pipeline patch the InferenceService, the stack is the only
    writer of its model: ignoring it froze the first model for good."""
    stack = [r for r in writers() if "rbac" not in r["type"]]
    ignored = builtin_server(ignored=["spec.predictor.model.storageUri", "spec.predictor.containers[0].env[1].value"])
    [found] = findings("MLRIG-DEP-016", ignored, *stack)
    # Only the fields the object has are named (the other path belongs to custom servers).
    assert "ignores spec.predictor.model.storageUri after creation, which no other writer moves" in found.message
    assert "containers" not in found.message
    assert findings("MLRIG-DEP-016", builtin_server(ignored=[]), *stack) == []


STEP = {"name": "train", "container": {"image": "i"}}
UNDISRUPTED = {"annotations": {"karpenter.sh/do-not-disrupt": "true"}}


def argo(kind: str, spec: dict) -> dict:
    return k8s(kind, "argoproj.io/v1alpha1", "train", spec)


def test_a_workflow_whose_pods_karpenter_waits_for_passes():
    everywhere = argo("WorkflowTemplate", {"podMetadata": UNDISRUPTED, "templates": [STEP]})
    per_step = argo("WorkflowTemplate", {"templates": [{**STEP, "metadata": UNDISRUPTED}, {"name": "dag", "dag": {}}]})
    by_reference = argo("CronWorkflow", {"workflowSpec": {"workflowTemplateRef": {"name": "train"}}})
    assert findings("MLRIG-DEP-017", everywhere, per_step, by_reference) == []


def test_a_training_step_karpenter_may_evict_when_its_pool_changes_is_reported():
    """A changed fallback order drifts the pool's nodes: the step running there was evicted."""
    [template, cron] = findings(
        "MLRIG-DEP-017",
        argo("WorkflowTemplate", {"podMetadata": {"labels": {"a": "b"}}, "templates": [STEP]}),
        argo("CronWorkflow", {"workflowSpec": {"templates": [STEP]}}),
    )
    assert "Karpenter may evict the pods of train before they end" in template.message
    assert cron.message.startswith("CronWorkflow train:")
    assert "karpenter.sh/do-not-disrupt" in template.hint


# --- final snapshots -----------------------------------------------------------------------------

DATABASE = "aws:rds/instance:Instance"
RANDOM_ID = "random:index/randomId:RandomId"


def database(snapshot: dict, *suffixes: dict, component: dict | None = None) -> list[dict]:
    inputs = {"identifier": "churn-prod-mlflow", "skipFinalSnapshot": False, **snapshot}
    db = record(DATABASE, "churn-prod-mlflow", inputs, dependencies=[s["urn"] for s in suffixes])
    parent = component["urn"] if component else None
    return [*([component] if component else []), {**db, "parent": parent}, *({**s, "parent": parent} for s in suffixes)]


def suffix(hex_value: str = "fd2c9844") -> dict:
    return record(RANDOM_ID, "churn-prod-mlflow-final-snapshot", {"byteLength": 4}, {"hex": hex_value})


def test_a_final_snapshot_suffixed_by_a_random_id_made_with_the_database_passes():
    component = record("mlrig:project:PostgresDatabase", "mlflow-db")
    made = database({"finalSnapshotIdentifier": "churn-prod-mlflow-final-fd2c9844"}, suffix(), component=component)
    assert findings("MLRIG-DEP-018", *made) == []


def test_a_fixed_final_snapshot_name_blocks_the_next_deletion():
    [found] = findings("MLRIG-DEP-018", *database({"finalSnapshotIdentifier": "churn-prod-mlflow-final"}))
    assert "always 'churn-prod-mlflow-final'" in found.message and "DBSnapshotAlreadyExists" in found.message


def test_a_random_value_the_name_does_not_carry_or_made_elsewhere_does_not_count():
    unrelated = database({"finalSnapshotIdentifier": "churn-prod-mlflow-final"}, suffix())
    assert len(findings("MLRIG-DEP-018", *unrelated)) == 1
    elsewhere = suffix()
    elsewhere_parent = record("mlrig:project:Other", "other")
    made = database({"finalSnapshotIdentifier": "churn-prod-mlflow-final-fd2c9844"}, elsewhere)
    made[-1] = {**made[-1], "parent": elsewhere_parent["urn"]}  # outlives the database: a name reused
    assert len(findings("MLRIG-DEP-018", elsewhere_parent, *made)) == 1


def test_a_database_that_takes_a_final_snapshot_needs_its_name_and_one_that_skips_it_needs_none():
    [found] = findings("MLRIG-DEP-018", *database({}))
    assert "names none" in found.message
    assert findings("MLRIG-DEP-018", *database({"skipFinalSnapshot": True}), tier="dev") == []


def test_under_crossguard_a_name_still_unknown_is_skipped_and_dependencies_come_as_depends_on():
    """In a real preview of the first creation the name waits for its suffix (unknowns are None,
    `checks/adapter.py`), and CrossGuard lists every dependency under `dependsOn`."""
    unknown = database({"finalSnapshotIdentifier": None}, suffix())
    assert findings("MLRIG-DEP-018", *unknown) == []
    component = record("mlrig:project:PostgresDatabase", "mlflow-db")
    made = database({"finalSnapshotIdentifier": "churn-prod-mlflow-final-fd2c9844"}, suffix(), component=component)
    options = dict(made[1]["options"])
    options["dependsOn"] = options.pop("dependencies")
    made[1] = {**made[1], "options": options}
    assert findings("MLRIG-DEP-018", *made) == []
