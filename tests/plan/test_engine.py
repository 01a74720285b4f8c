"""The offline plan engine: what a program registers, with effective options, under mocks."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws
import pytest

from mlrig.plan.engine import PlanError, StackPlan, plan_stack

STORE = "mlrig:test:Store"


class Store(pulumi.ComponentResource):
    """A tiny component: a bucket, a role that depends on it explicitly, and a policy on the role."""

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(STORE, name, None, opts)
        self.bucket = aws.s3.Bucket(f"{name}-data", opts=pulumi.ResourceOptions(parent=self))
        self.role = aws.iam.Role(
            f"{name}-reader",
            assume_role_policy=json.dumps({"Version": "2012-10-17", "Statement": []}),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.bucket]),
        )
        self.policy = aws.iam.RolePolicy(
            f"{name}-read",
            role=self.role.name,
            policy=self.bucket.arn.apply(lambda arn: json.dumps({"Statement": [{"Resource": f"{arn}/*"}]})),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"bucket": self.bucket.bucket})


def store_program(protect: bool = False) -> None:
    store = Store("store", opts=pulumi.ResourceOptions(protect=protect))
    pulumi.export("bucketArn", store.bucket.arn)
    pulumi.export("roleArn", store.role.arn)


def plan_of(program, stack: str = "acme-ml.dev", **kwargs) -> StackPlan:
    return plan_stack(program, stack=stack, **kwargs)


def test_every_registered_resource_is_in_the_plan_with_its_type_parent_and_inputs():
    plan = plan_of(store_program)
    store = plan.of_type(STORE)[0]
    assert store["custom"] is False and store["parent"] is None
    kinds = {r["type"]: r for r in plan.resources}
    assert set(kinds) == {STORE, "aws:s3/bucket:Bucket", "aws:iam/role:Role", "aws:iam/rolePolicy:RolePolicy"}
    for resource in plan.resources[1:]:
        assert resource["parent"] == store["urn"]
        assert resource["custom"] is True
    role = kinds["aws:iam/role:Role"]
    assert "assumeRolePolicy" in role["inputs"], "inputs use the engine's camelCase names"
    assert role["urn"] == "urn:pulumi:acme-ml.dev::mlrig::mlrig:test:Store$aws:iam/role:Role::store-reader"


def test_inputs_computed_from_other_resources_carry_the_mocked_arn():
    plan = plan_of(store_program)
    bucket = plan.of_type("aws:s3/bucket:Bucket")[0]
    policy = json.loads(plan.of_type("aws:iam/rolePolicy:RolePolicy")[0]["inputs"]["policy"])
    assert policy["Statement"][0]["Resource"] == f"arn:aws:s3:::{bucket['outputs']['bucket']}/*"


def test_a_child_inherits_protect_from_its_parent_as_the_engine_does():
    protected = plan_of(lambda: store_program(protect=True))
    assert all(r["options"]["protect"] for r in protected.resources)
    unprotected = plan_of(store_program)
    assert not any(r["options"]["protect"] for r in unprotected.resources)


def test_retain_on_delete_and_an_explicit_protect_false_are_recorded_per_resource():
    def program() -> None:
        parent = Store("kept", opts=pulumi.ResourceOptions(protect=True))
        aws.s3.Bucket("loose", opts=pulumi.ResourceOptions(parent=parent, protect=False, retain_on_delete=True))

    loose = plan_of(program).named("loose")
    assert loose["options"]["protect"] is False
    assert loose["options"]["retainOnDelete"] is True


def test_explicit_depends_on_is_captured_and_property_dependencies_are_not_mistaken_for_it():
    plan = plan_of(store_program)
    bucket = plan.named("store-data")
    role = plan.named("store-reader")
    policy = plan.named("store-read")
    assert role["options"]["dependsOn"] == [bucket["urn"]]
    assert policy["options"]["dependsOn"] == []
    assert set(policy["options"]["dependencies"]) == {bucket["urn"], role["urn"]}


def test_the_provider_of_a_resource_is_recorded_by_urn():
    def program() -> None:
        provider = aws.Provider("aws-dev", region="eu-west-1")
        aws.s3.Bucket("data", opts=pulumi.ResourceOptions(provider=provider))

    plan = plan_of(program)
    provider = plan.named("aws-dev")
    assert provider["type"] == "pulumi:providers:aws"
    assert plan.named("data")["options"]["provider"] == provider["urn"]


def test_exported_outputs_are_resolved_values():
    plan = plan_of(store_program)
    assert plan.outputs["bucketArn"].startswith("arn:aws:s3:::store-data-")
    assert plan.outputs["roleArn"].startswith("arn:aws:iam::123456789012:role/store-reader-")


def test_secret_outputs_are_unwrapped_and_named():
    def program() -> None:
        pulumi.export("password", pulumi.Output.secret("hunter2"))
        pulumi.export("plain", "visible")

    plan = plan_of(program)
    assert plan.outputs == {"password": "hunter2", "plain": "visible"}
    assert plan.secret_outputs == ["password"]


def test_the_same_program_gives_the_same_plan_every_time():
    first = plan_of(store_program).to_json()
    second = plan_of(store_program).to_json()
    assert first == second
    assert json.loads(first)["stack"] == "acme-ml.dev"


def test_stacks_planned_one_after_another_do_not_share_resources_config_or_outputs():
    def first() -> None:
        aws.s3.Bucket("only-in-first")
        pulumi.export("region", pulumi.Config("aws").get("region"))

    def second() -> None:
        aws.s3.Bucket("only-in-second")
        pulumi.export("region", pulumi.Config("aws").get("region"))

    a = plan_of(first, stack="a.dev", config={"aws:region": "eu-west-1"})
    b = plan_of(second, stack="b.dev")
    assert [r["name"] for r in a.resources] == ["only-in-first"]
    assert [r["name"] for r in b.resources] == ["only-in-second"]
    assert a.outputs == {"region": "eu-west-1"}
    assert b.outputs == {"region": None}
    assert b.resources[0]["urn"].startswith("urn:pulumi:b.dev::mlrig::")


def test_a_failed_plan_does_not_leak_into_the_next_one():
    def broken() -> None:
        aws.s3.Bucket("half-made")
        raise ValueError("the program broke")

    with pytest.raises(PlanError):
        plan_of(broken, stack="broken.dev")
    plan = plan_of(store_program)
    assert "half-made" not in {r["name"] for r in plan.resources}


def test_config_reaches_the_program_as_pulumi_config():
    def program() -> None:
        config = pulumi.Config("mlrig")
        pulumi.export("bundle", config.require("bundle"))
        pulumi.export("stack", pulumi.get_stack())
        pulumi.export("project", pulumi.get_project())

    plan = plan_of(program, stack="fraud-detection.prod", config={"mlrig:bundle": "bundles/fraud-detection.yaml"})
    assert plan.outputs == {
        "bundle": "bundles/fraud-detection.yaml",
        "stack": "fraud-detection.prod",
        "project": "mlrig",
    }


def test_a_stack_reference_reads_the_outputs_it_is_given():
    def program() -> None:
        platform = pulumi.StackReference("organization/mlrig/acme-ml.dev")
        pulumi.export("cluster", platform.require_output("clusterName"))

    plan = plan_of(program, stack_outputs={"organization/mlrig/acme-ml.dev": {"clusterName": "acme-ml-dev"}})
    assert plan.outputs == {"cluster": "acme-ml-dev"}
    assert plan.of_type("pulumi:pulumi:StackReference")[0]["id"] == "organization/mlrig/acme-ml.dev"


def test_a_stack_reference_to_a_stack_that_was_not_provided_is_a_clear_error():
    def program() -> None:
        pulumi.StackReference("organization/mlrig/acme-ml.qa").get_output("clusterName")

    with pytest.raises(PlanError) as caught:
        plan_of(program, stack="fraud-detection.qa", stack_outputs={"organization/mlrig/acme-ml.dev": {}})
    assert caught.value.stack == "fraud-detection.qa"
    assert "acme-ml.qa" in caught.value.message and "not provided" in caught.value.message


@pytest.mark.parametrize(
    ("program", "expected"),
    [
        (lambda: (_ for _ in ()).throw(ValueError("bad pool")), "ValueError: bad pool"),
        (lambda: aws.s3.Bucket("b").arn.apply(lambda _: 1 / 0), "ZeroDivisionError: division by zero"),
        (lambda: pulumi.log.error("quota exceeded"), "quota exceeded"),
        (lambda: (_ for _ in ()).throw(pulumi.RunError("missing config mlrig:bundle")), "missing config mlrig:bundle"),
    ],
    ids=["exception", "exception-in-apply", "log-error", "run-error"],
)
def test_program_errors_become_a_plan_error_naming_the_stack_without_sdk_frames(program, expected):
    with pytest.raises(PlanError) as caught:
        plan_of(program, stack="acme-ml.staging")
    assert caught.value.stack == "acme-ml.staging"
    assert caught.value.message.startswith(expected)
    assert "site-packages" not in str(caught.value) and "Traceback" not in str(caught.value)


def test_warnings_of_the_program_are_kept_with_the_plan():
    plan = plan_of(lambda: pulumi.log.warn("dev schedules are suspended"))
    assert plan.warnings == ["dev schedules are suspended"]


def test_a_plan_leaves_the_garbage_collector_and_event_loop_as_it_found_them():
    import asyncio
    import gc

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        assert gc.isenabled()
        plan_of(store_program)
        with pytest.raises(PlanError):
            plan_of(lambda: pulumi.log.error("broken"))
        assert gc.isenabled()
        assert asyncio.get_event_loop() is loop and not loop.is_closed()
    finally:
        asyncio.set_event_loop(None)
        loop.close()


def test_an_error_in_mlrig_code_says_where_it_happened():
    from mlrig.plan.engine import PACKAGE_ROOT, describe_error

    fake_component = PACKAGE_ROOT / "platform" / "network.py"
    code = compile("\n\nraise ValueError('subnet does not fit the VPC')", str(fake_component), "exec")
    with pytest.raises(ValueError) as caught:
        exec(code, {})
    assert describe_error(caught.value) == "ValueError: subnet does not fit the VPC (at mlrig/platform/network.py:3)"


def test_an_exported_output_type_becomes_a_dict_with_wire_names():
    def program() -> None:
        cluster = aws.eks.Cluster("c", role_arn="arn:aws:iam::1:role/r", vpc_config={"subnet_ids": ["subnet-1"]})
        pulumi.export("ca", cluster.certificate_authority)

    ca = plan_of(program).outputs["ca"]
    assert set(ca) == {"data"} and ca["data"]


def test_two_resources_under_one_urn_fail_the_plan_as_the_engine_does():
    """`pulumi up` refuses a second registration of one URN ("Duplicate resource URN"); the plan
    kept the last one silently, so two bundle items deriving one resource name planned clean."""

    def twice() -> None:
        aws.s3.Bucket("data")
        aws.s3.Bucket("data")

    with pytest.raises(PlanError) as caught:
        plan_of(twice)
    assert "Duplicate resource URN" in str(caught.value) and "aws:s3/bucket:Bucket::data'" in str(caught.value)
