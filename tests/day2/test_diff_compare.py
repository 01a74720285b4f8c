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
    assert stack.summary().endswith("1 change(s) pulumi up will refuse") and stack.as_dict()["refused"] == [back.urn]


# --- what the engine refuses: protected resources, fixed names on create-before-delete ------------

SECRET = "aws:secretsmanager/secret:Secret"
ROLE = "aws:iam/role:Role"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"


def test_removing_a_protected_prod_secret_is_refused_with_the_command_that_unprotects_it() -> None:
    """pulumi up stops at deleting a protected resource: the merged change would fail its apply."""
    kept = resource(SECRET, "gateway-anthropic", {"name": "p/gateway/anthropic"}, protect=True, retainOnDelete=True)
    [change] = diff_resources([kept], [])
    assert change.action == "delete" and change.refused is not None
    assert "refuses to delete a protected resource" in change.refused
    assert f"pulumi state unprotect '{kept['urn']}'" in change.refused
    assert "stays in AWS" in change.refused and "pulumi import" in change.refused


def test_turning_protect_off_in_the_same_change_does_not_let_a_replacement_through() -> None:
    """The engine checks the deployed resource's protect flag, not the new program's."""
    before = [resource(BUCKET, "data", {"bucket": "acme-data"}, protect=True, retainOnDelete=True)]
    after = [resource(BUCKET, "data", {"bucket": "acme-data-2"})]
    [change] = diff_resources(before, after)
    assert change.action == "replace" and change.refused is not None
    assert "refuses to replace a protected resource" in change.refused


def test_an_unprotected_delete_is_not_refused() -> None:
    [change] = diff_resources([resource(SECRET, "s", {"name": "dev/s"})], [])
    assert change.action == "delete" and change.refused is None


def test_a_node_group_replaced_under_its_fixed_name_collides_with_itself() -> None:
    """New instance types replace an EKS node group: created first under the same name, EKS
    answers ResourceInUseException."""
    before = [
        resource(
            NODE_GROUP, "system", {"nodeGroupName": "c-system", "clusterName": "c", "instanceTypes": ["m7i.large"]}
        )
    ]
    after = [
        resource(
            NODE_GROUP, "system", {"nodeGroupName": "c-system", "clusterName": "c", "instanceTypes": ["m7i.xlarge"]}
        )
    ]
    [change] = diff_resources(before, after)
    assert change.action == "replace"
    assert change.refused is not None and "same nodeGroupName 'c-system'" in change.refused


def test_a_replacement_with_a_new_name_or_delete_before_replace_or_a_pulumi_made_name_does_not_collide() -> None:
    renamed = diff_resources(
        [resource(ROLE, "r", {"name": "team-a", "path": "/"})], [resource(ROLE, "r", {"name": "team-b", "path": "/"})]
    )
    deleted_first = diff_resources(
        [resource(ROLE, "r", {"name": "team-a", "path": "/"})],
        [resource(ROLE, "r", {"name": "team-a", "path": "/ml/"}, deleteBeforeReplace=True)],
    )
    prefixed = diff_resources(
        [
            resource(
                NODE_GROUP,
                "g",
                {"nodeGroupNamePrefix": "c-system-", "clusterName": "c", "amiType": "AL2023_x86_64_STANDARD"},
            )
        ],
        [
            resource(
                NODE_GROUP,
                "g",
                {"nodeGroupNamePrefix": "c-system-", "clusterName": "c", "amiType": "AL2023_ARM_64_STANDARD"},
            )
        ],
    )
    for [change] in (renamed, deleted_first, prefixed):
        assert change.action == "replace" and change.refused is None


def test_a_role_replaced_under_the_same_name_collides() -> None:
    [change] = diff_resources(
        [resource(ROLE, "r", {"name": "team-a", "path": "/"})],
        [resource(ROLE, "r", {"name": "team-a", "path": "/ml/"})],
    )
    assert change.refused is not None and "same name 'team-a'" in change.refused


def test_kubernetes_objects_are_deleted_before_they_are_replaced_by_their_provider() -> None:
    job = "kubernetes:batch/v1:Job"
    before = [resource(job, "j", {"metadata": {"name": "j"}, "spec": {"template": {"a": 1}}})]
    after = [resource(job, "j", {"metadata": {"name": "j"}, "spec": {"template": {"a": 2}}})]
    [change] = diff_resources(before, after)
    assert change.action == "replace" and change.refused is None


def test_a_stack_left_without_a_bundle_reports_no_refusal_since_nothing_is_applied() -> None:
    kept = resource(SECRET, "s", {"name": "p/s"}, protect=True, retainOnDelete=True)
    stack = diff_stack("p.prod", "Project", "prod", [kept], None)
    assert stack.status == "deleted" and stack.refused == [] and stack.dangerous


DATABASE = "aws:rds/instance:Instance"


def test_rds_refuses_to_shrink_a_database_below_what_it_already_has() -> None:
    """storageGiB 100 → 20: autoscaling's limit becomes 80 GiB, under the 100 GiB it has."""
    [shrunk] = diff_resources(
        [resource(DATABASE, "db", {"allocatedStorage": 100, "maxAllocatedStorage": 400})],
        [resource(DATABASE, "db", {"allocatedStorage": 20, "maxAllocatedStorage": 80})],
    )
    assert shrunk.action == "update" and shrunk.refused is not None
    assert "never shrinks" in shrunk.refused and "100 GiB" in shrunk.refused
    [grown] = diff_resources(
        [resource(DATABASE, "db", {"allocatedStorage": 100, "maxAllocatedStorage": 400})],
        [resource(DATABASE, "db", {"allocatedStorage": 200, "maxAllocatedStorage": 800})],
    )
    assert grown.refused is None
