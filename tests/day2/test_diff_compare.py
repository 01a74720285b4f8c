"""How two plans of one stack compare: added, deleted, replaced and updated resources, property
changes, masking, and the replacement table."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

from mlrig.diff.compare import MASK, diff_resources, diff_stack
from mlrig.diff.replacement import REPLACE_ON_CHANGE, STATEFUL_TYPES, replacing_paths
from mlrig.plan.engine import StackPlan

STACK = "urn:pulumi:p.prod::mlrig::"


def resource(token: str, name: str, inputs: dict[str, Any], *, parent: str = "", **options: Any) -> dict[str, Any]:
    chain = f"{parent}${token}" if parent else token
    return {
        "urn": f"{STACK}{chain}::{name}",
        "type": token,
        "name": name,
        "parent": None,
        "custom": True,
        "id": name,
        "inputs": inputs,
        "outputs": {},
        "options": {"protect": False, "retainOnDelete": False, **options},
    }


BUCKET = "aws:s3/bucket:Bucket"


def test_an_unchanged_plan_has_no_changes(project_plan: Callable[[str, str], StackPlan]) -> None:
    plan = project_plan("fraud-detection", "prod").resources
    stack = diff_stack("fraud-detection.prod", "Project", "prod", plan, copy.deepcopy(plan))
    assert stack.resources == [] and stack.status == "unchanged" and stack.summary() == "no changes"


def test_renaming_a_protected_bucket_replaces_it_and_is_dangerous() -> None:
    before = [resource(BUCKET, "data", {"bucket": "acme-data", "tags": {"a": "1"}}, protect=True, retainOnDelete=True)]
    after = [resource(BUCKET, "data", {"bucket": "acme-data-2", "tags": {"a": "1"}}, protect=True, retainOnDelete=True)]
    [change] = diff_resources(before, after)
    assert change.action == "replace" and change.dangerous
    assert [c.path for c in change.changes if c.replaces] == ["bucket"]
    assert change.reasons == ("bucket forces a replacement of Bucket",)


def test_a_tag_change_updates_a_bucket_in_place() -> None:
    before = [resource(BUCKET, "data", {"bucket": "acme-data", "tags": {"team": "a"}})]
    after = [resource(BUCKET, "data", {"bucket": "acme-data", "tags": {"team": "b"}})]
    [change] = diff_resources(before, after)
    assert change.action == "update" and not change.dangerous
    assert [(c.path, c.before, c.after) for c in change.changes] == [("tags.team", "a", "b")]


def test_a_new_parent_changes_the_urn_and_replaces_the_resource() -> None:
    before = [resource("aws:kms/key:Key", "key", {"description": "k"}, parent="mlrig:project:Storage")]
    after = [resource("aws:kms/key:Key", "key", {"description": "k"}, parent="mlrig:project:Vault")]
    [change] = diff_resources(before, after)
    assert change.action == "replace" and change.previous_urn == before[0]["urn"]
    assert change.reasons == ("URN changed: a new parent",)
    assert change.stateful and change.dangerous  # a key: its ciphertexts die with it


def test_a_new_logical_name_for_the_same_physical_resource_is_a_replacement() -> None:
    before = [resource("aws:ecr/repository:Repository", "registry-a", {"name": "p/prod/a"})]
    after = [dict(resource("aws:ecr/repository:Repository", "registry-b", {"name": "p/prod/a"}), id="registry-a")]
    [change] = diff_resources(before, after)
    assert change.action == "replace" and "logical name 'registry-a' → 'registry-b'" in change.reasons[0]


def test_a_kubernetes_object_is_replaced_when_its_name_or_namespace_changes() -> None:
    token = "kubernetes:argoproj.io/v1alpha1:CronWorkflow"
    before = [
        resource(token, "cron", {"metadata": {"name": "train", "namespace": "a"}, "spec": {"schedule": "0 1 * * *"}})
    ]
    moved = [
        resource(token, "cron", {"metadata": {"name": "train", "namespace": "b"}, "spec": {"schedule": "0 1 * * *"}})
    ]
    rescheduled = [
        resource(token, "cron", {"metadata": {"name": "train", "namespace": "a"}, "spec": {"schedule": "0 2 * * *"}})
    ]
    assert diff_resources(before, moved)[0].action == "replace"
    assert diff_resources(before, rescheduled)[0].action == "update"


def test_the_resources_own_replace_on_changes_option_forces_a_replacement() -> None:
    assert replacing_paths("aws:sns/topic:Topic", ["displayName"], ["displayName"]) == ["displayName"]
    assert replacing_paths("aws:sns/topic:Topic", ["displayName"], ["*"]) == ["displayName"]
    assert replacing_paths("aws:sns/topic:Topic", ["displayName"]) == []


def test_secret_values_are_masked_whether_the_plan_marks_them_or_their_key_looks_secret() -> None:
    token = "kubernetes:apps/v1:Deployment"
    env = [{"name": "API_TOKEN", "value": "tok-1"}, {"name": "MODE", "value": "a"}]
    before = [
        dict(
            resource("aws:rds/instance:Instance", "db", {"password": "hunter2", "dbName": "x"}), secretInputs=["dbName"]
        ),
        resource(token, "app", {"spec": {"env": env, "webhookUrl": "https://hooks/1"}}),
    ]
    after = copy.deepcopy(before)
    after[0]["inputs"] = {"password": "hunter3", "dbName": "y"}
    after[1]["inputs"]["spec"]["env"][0]["value"] = "tok-2"
    after[1]["inputs"]["spec"]["env"][1]["value"] = "b"
    after[1]["inputs"]["spec"]["webhookUrl"] = "https://hooks/2"
    changes = {c.path: (c.before, c.after) for r in diff_resources(before, after) for c in r.changes}
    assert changes["password"] == (MASK, MASK)  # a changed secret is reported, its value never
    assert changes["dbName"] == (MASK, MASK)  # the plan sent it as a secret
    assert changes["spec.env[0].value"] == (MASK, MASK)  # {name: API_TOKEN, value: …}
    assert changes["spec.webhookUrl"] == (MASK, MASK)
    assert changes["spec.env[1].value"] == ("a", "b")
    text = repr(changes)
    assert not re.search("hunter|tok-|hooks/", text)


def test_a_stack_left_without_a_bundle_is_wholly_deleted(project_plan: Callable[[str, str], StackPlan]) -> None:
    plan = project_plan("rag-assistant", "prod").resources
    stack = diff_stack("rag-assistant.prod", "Project", "prod", plan, None)
    assert stack.status == "deleted"
    assert {r.action for r in stack.resources} == {"delete"}
    assert len(stack.resources) == sum(1 for r in plan if r["custom"])
    assert any(r.type == "aws:rds/instance:Instance" for r in stack.dangerous)
    assert stack.summary().startswith("whole stack deleted")


def test_every_protected_resource_type_mlrig_creates_has_its_replacement_triggers_listed(
    project_plan: Callable[[str, str], StackPlan], platform_plan: Callable[[str], StackPlan]
) -> None:
    plans = [platform_plan("prod"), project_plan("fraud-detection", "prod"), project_plan("rag-assistant", "prod")]
    protected = {r["type"] for p in plans for r in p.resources if r["custom"] and r["options"]["protect"]}
    assert protected, "prod stacks protect their stateful resources"
    assert protected <= set(REPLACE_ON_CHANGE), protected - set(REPLACE_ON_CHANGE)
    core = {"aws:s3/bucket:Bucket", "aws:rds/instance:Instance", "aws:kms/key:Key", "aws:ecr/repository:Repository"}
    assert core <= protected and core <= STATEFUL_TYPES


def test_the_replacement_table_is_keyed_by_pulumi_type_tokens() -> None:
    token = re.compile(r"^[a-z]+:[A-Za-z0-9./-]*:[A-Za-z0-9]+$|^pulumi:providers:[a-z]+$")
    assert all(token.match(key) for key in REPLACE_ON_CHANGE)
    assert REPLACE_ON_CHANGE["aws:s3/bucket:Bucket"][0] == "bucket"
    assert {"identifier", "engine", "dbName"} <= set(REPLACE_ON_CHANGE["aws:rds/instance:Instance"])
    assert "name" in REPLACE_ON_CHANGE["aws:eks/cluster:Cluster"]
    assert "name" in REPLACE_ON_CHANGE["aws:iam/role:Role"]
    assert "name" in REPLACE_ON_CHANGE["aws:ecr/repository:Repository"]


def test_the_pull_request_section_stays_within_a_comment_however_large_the_change() -> None:
    from mlrig.diff.render import MARKDOWN_LINES_PER_STACK, DiffReport, render_markdown

    before = [resource(BUCKET, f"b{i}", {"bucket": f"b{i}", "tags": {"v": "1"}}) for i in range(400)]
    after = [resource(BUCKET, f"b{i}", {"bucket": f"b{i}", "tags": {"v": "2"}}) for i in range(400)]
    report = DiffReport("base", "head", "mlrig test", [diff_stack("p.prod", "Project", "prod", before, after)])
    markdown = render_markdown(report)
    block = markdown.split("```diff\n", 1)[1].split("```", 1)[0].splitlines()
    assert len(block) == MARKDOWN_LINES_PER_STACK + 1 and block[-1].startswith("# … 650 more line(s)")


CLUSTER = "aws:eks/cluster:Cluster"


def test_a_one_minor_cluster_upgrade_is_an_update_eks_accepts() -> None:
    [change] = diff_resources(
        [resource(CLUSTER, "eks", {"version": "1.33"})], [resource(CLUSTER, "eks", {"version": "1.34"})]
    )
    assert change.action == "update" and change.refused is None


def test_eks_refuses_skipping_a_minor_version_or_going_back() -> None:
    [skip] = diff_resources(
        [resource(CLUSTER, "eks", {"version": "1.31"})], [resource(CLUSTER, "eks", {"version": "1.34"})]
    )
    assert skip.action == "update"
    assert skip.refused is not None and "merge and apply 1.32, then 1.33, then 1.34" in skip.refused
    [back] = diff_resources(
        [resource(CLUSTER, "eks", {"version": "1.34"})], [resource(CLUSTER, "eks", {"version": "1.33"})]
    )
    assert back.refused == "EKS cannot downgrade a cluster (version 1.34 → 1.33)"
    stack = diff_stack(
        "acme.prod",
        "Platform",
        "prod",
        [resource(CLUSTER, "eks", {"version": "1.34"})],
        [resource(CLUSTER, "eks", {"version": "1.33"})],
    )
    assert stack.summary().endswith("1 change(s) the cloud will refuse") and stack.as_dict()["refused"] == [back.urn]
