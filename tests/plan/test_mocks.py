"""The mocks answer like AWS: ids, names and ARNs shaped like real ones, derived from inputs and
from the account and region of the provider a resource deploys through."""

from __future__ import annotations

import json
import re

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from mlrig.plan.engine import plan_stack

DEV_ACCOUNT = "111111111111"


def dev_provider(region: str = "eu-west-1", **extra) -> aws.Provider:
    return aws.Provider("aws-dev", region=region, allowed_account_ids=[DEV_ACCOUNT], **extra)


def plan_of(program):
    return plan_stack(program, stack="acme-ml.dev")


def outputs_of(plan, name):
    return plan.named(name)["outputs"]


def test_arns_use_the_account_and_region_of_the_resource_provider():
    def program() -> None:
        opts = pulumi.ResourceOptions(provider=dev_provider())
        aws.s3.Bucket("data", bucket="acme-ml-dev-data", opts=opts)
        aws.iam.Role("reader", name="acme-reader", path="/mlrig/", assume_role_policy="{}", opts=opts)
        aws.iam.Policy("read", name="acme-read", policy="{}", opts=opts)
        aws.ecr.Repository("training", name="fraud-detection/training", opts=opts)
        aws.sqs.Queue("interruptions", name="karpenter-acme", opts=opts)
        aws.kms.Key("secrets", opts=opts)
        aws.secretsmanager.Secret("openai", name="mlrig/openai", opts=opts)
        aws.kinesis.FirehoseDeliveryStream("feedback", name="feedback", destination="extended_s3", opts=opts)

    plan = plan_of(program)
    assert outputs_of(plan, "data")["arn"] == "arn:aws:s3:::acme-ml-dev-data"
    assert outputs_of(plan, "reader")["arn"] == f"arn:aws:iam::{DEV_ACCOUNT}:role/mlrig/acme-reader"
    assert outputs_of(plan, "read")["arn"] == f"arn:aws:iam::{DEV_ACCOUNT}:policy/acme-read"
    repo = outputs_of(plan, "training")
    assert repo["repositoryUrl"] == f"{DEV_ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/fraud-detection/training"
    assert repo["arn"] == f"arn:aws:ecr:eu-west-1:{DEV_ACCOUNT}:repository/fraud-detection/training"
    queue = outputs_of(plan, "interruptions")
    assert queue["arn"] == f"arn:aws:sqs:eu-west-1:{DEV_ACCOUNT}:karpenter-acme"
    assert queue["url"] == f"https://sqs.eu-west-1.amazonaws.com/{DEV_ACCOUNT}/karpenter-acme"
    key = outputs_of(plan, "secrets")
    assert re.fullmatch(rf"arn:aws:kms:eu-west-1:{DEV_ACCOUNT}:key/[0-9a-f-]{{36}}", key["arn"])
    assert key["arn"].endswith(key["keyId"])
    assert re.fullmatch(
        rf"arn:aws:secretsmanager:eu-west-1:{DEV_ACCOUNT}:secret:mlrig/openai-[0-9a-f]{{6}}",
        outputs_of(plan, "openai")["arn"],
    )
    assert outputs_of(plan, "feedback")["arn"] == f"arn:aws:firehose:eu-west-1:{DEV_ACCOUNT}:deliverystream/feedback"


def test_the_account_comes_from_the_assumed_role_when_no_account_is_pinned():
    def program() -> None:
        provider = aws.Provider(
            "aws-prod",
            region="us-east-1",
            assume_roles=[aws.ProviderAssumeRoleArgs(role_arn="arn:aws:iam::333333333333:role/mlrig-deployer")],
        )
        aws.iam.Role("r", name="r", assume_role_policy="{}", opts=pulumi.ResourceOptions(provider=provider))

    assert outputs_of(plan_of(program), "r")["arn"] == "arn:aws:iam::333333333333:role/r"


def test_resources_without_a_provider_land_in_the_default_account_and_region():
    plan = plan_of(lambda: aws.ecr.Repository("serving", name="serving"))
    assert outputs_of(plan, "serving")["repositoryUrl"] == "123456789012.dkr.ecr.us-east-1.amazonaws.com/serving"


def test_network_ids_look_like_ec2_ids():
    def program() -> None:
        vpc = aws.ec2.Vpc("vpc", cidr_block="10.10.0.0/16")
        aws.ec2.Subnet("private-a", vpc_id=vpc.id, cidr_block="10.10.0.0/20")
        aws.ec2.SecurityGroup("nodes", vpc_id=vpc.id)
        aws.ec2.DefaultSecurityGroup("default-sg", vpc_id=vpc.id)

    plan = plan_of(program)
    vpc = plan.named("vpc")
    assert re.fullmatch(r"vpc-[0-9a-f]{17}", vpc["id"])
    assert vpc["outputs"]["cidrBlock"] == "10.10.0.0/16"
    assert re.fullmatch(r"subnet-[0-9a-f]{17}", plan.named("private-a")["id"])
    assert plan.named("private-a")["inputs"]["vpcId"] == vpc["id"]
    assert re.fullmatch(r"sg-[0-9a-f]{17}", plan.named("nodes")["id"])
    default = plan.named("default-sg")
    assert re.fullmatch(r"sg-[0-9a-f]{17}", default["id"]) and default["outputs"]["name"] == "default"


def test_an_eks_cluster_has_an_endpoint_a_certificate_and_an_oidc_issuer_in_its_region():
    def program() -> None:
        cluster = aws.eks.Cluster(
            "cluster",
            name="acme-ml-dev",
            role_arn="arn:aws:iam::111111111111:role/cluster",
            vpc_config=aws.eks.ClusterVpcConfigArgs(subnet_ids=["subnet-1"]),
            opts=pulumi.ResourceOptions(provider=dev_provider()),
        )
        pulumi.export("issuer", cluster.identities[0].oidcs[0].issuer)
        pulumi.export("ca", cluster.certificate_authority.data)

    plan = plan_of(program)
    cluster = plan.named("cluster")
    assert cluster["id"] == "acme-ml-dev"
    assert cluster["outputs"]["arn"] == f"arn:aws:eks:eu-west-1:{DEV_ACCOUNT}:cluster/acme-ml-dev"
    assert re.fullmatch(r"https://[0-9A-F]{32}\.gr7\.eu-west-1\.eks\.amazonaws\.com", cluster["outputs"]["endpoint"])
    assert re.fullmatch(r"https://oidc\.eks\.eu-west-1\.amazonaws\.com/id/[0-9A-F]{32}", plan.outputs["issuer"])
    assert plan.outputs["ca"]
    assert re.fullmatch(r"sg-[0-9a-f]{17}", cluster["outputs"]["vpcConfig"]["clusterSecurityGroupId"])


def test_the_oidc_provider_arn_is_derived_from_its_url():
    def program() -> None:
        aws.iam.OpenIdConnectProvider(
            "github",
            url="https://token.actions.githubusercontent.com",
            client_id_lists=["sts.amazonaws.com"],
            opts=pulumi.ResourceOptions(provider=dev_provider()),
        )

    arn = outputs_of(plan_of(program), "github")["arn"]
    assert arn == f"arn:aws:iam::{DEV_ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"


def test_a_database_endpoint_is_its_address_and_port():
    def program() -> None:
        aws.rds.Instance(
            "tracking", identifier="tracking", engine="postgres", instance_class="db.t4g.medium", allocated_storage=20
        )

    out = outputs_of(plan_of(program), "tracking")
    assert re.fullmatch(r"tracking\.[0-9a-f]{12}\.us-east-1\.rds\.amazonaws\.com", out["address"])
    assert out["endpoint"] == f"{out['address']}:5432"


def test_resources_without_a_name_get_a_deterministic_pulumi_style_auto_name():
    def program() -> None:
        aws.iam.Role("reader", assume_role_policy="{}")
        aws.s3.Bucket("Data")

    first, second = plan_of(program), plan_of(program)
    name = outputs_of(first, "reader")["name"]
    assert re.fullmatch(r"reader-[0-9a-f]{7}", name)
    assert name == outputs_of(second, "reader")["name"]
    assert re.fullmatch(r"data-[0-9a-f]{7}", outputs_of(first, "Data")["bucket"]), "bucket names are lowercase"


def test_an_unknown_aws_type_gets_a_generic_arn_from_its_type_token():
    plan = plan_of(
        lambda: aws.sagemaker.Domain(
            "studio",
            domain_name="studio",
            auth_mode="IAM",
            default_user_settings={"execution_role": "r"},
            subnet_ids=[],
            vpc_id="v",
        )
    )
    arn = outputs_of(plan, "studio")["arn"]
    assert arn.startswith("arn:aws:sagemaker:us-east-1:123456789012:domain/")


def test_caller_identity_region_partition_and_zones_follow_the_provider():
    def program() -> None:
        provider = dev_provider(region="eu-west-1")
        opts = pulumi.InvokeOptions(provider=provider)
        pulumi.export("account", aws.get_caller_identity(opts=opts).account_id)
        pulumi.export("region", aws.get_region(opts=opts).region)
        pulumi.export("partition", aws.get_partition(opts=opts).partition)
        pulumi.export("zones", aws.get_availability_zones(opts=opts).names)
        pulumi.export("defaultZones", aws.get_availability_zones().names)

    out = plan_of(program).outputs
    assert out["account"] == DEV_ACCOUNT
    assert out["region"] == "eu-west-1"
    assert out["partition"] == "aws"
    assert out["zones"] == ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
    assert out["defaultZones"] == [f"us-east-1{z}" for z in "abcdef"]


def test_get_policy_document_renders_real_iam_json():
    def program() -> None:
        document = aws.iam.get_policy_document(
            statements=[
                aws.iam.GetPolicyDocumentStatementArgs(
                    sid="ReadData",
                    actions=["s3:GetObject", "s3:ListBucket"],
                    resources=["arn:aws:s3:::data", "arn:aws:s3:::data/*"],
                    principals=[
                        aws.iam.GetPolicyDocumentStatementPrincipalArgs(
                            type="Federated", identifiers=["arn:aws:iam::1:oidc-provider/x"]
                        )
                    ],
                    conditions=[
                        aws.iam.GetPolicyDocumentStatementConditionArgs(
                            test="StringEquals", variable="x:aud", values=["sts.amazonaws.com"]
                        )
                    ],
                ),
                aws.iam.GetPolicyDocumentStatementArgs(effect="Deny", actions=["s3:DeleteObject"], resources=["*"]),
            ]
        )
        pulumi.export("policy", document.json)

    policy = json.loads(plan_of(program).outputs["policy"])
    assert policy == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReadData",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:ListBucket"],
                "Resource": ["arn:aws:s3:::data", "arn:aws:s3:::data/*"],
                "Principal": {"Federated": "arn:aws:iam::1:oidc-provider/x"},
                "Condition": {"StringEquals": {"x:aud": "sts.amazonaws.com"}},
            },
            {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "*"},
        ],
    }


def test_kubernetes_objects_and_helm_releases_get_names_and_namespaces():
    def program() -> None:
        k8s.core.v1.Namespace("ml")
        k8s.core.v1.ServiceAccount("runner", metadata={"name": "runner", "namespace": "ml"})
        k8s.core.v1.ConfigMap("settings")
        k8s.helm.v3.Release("argo", chart="argo-workflows", version="0.45.0", namespace="argo")

    plan = plan_of(program)
    namespace = plan.named("ml")["outputs"]["metadata"]
    assert re.fullmatch(r"ml-[0-9a-f]{8}", namespace["name"]) and "namespace" not in namespace
    assert plan.named("runner")["id"] == "ml/runner"
    assert plan.named("settings")["outputs"]["metadata"]["namespace"] == "default"
    release = plan.named("argo")["outputs"]
    assert release["status"]["status"] == "deployed"
    assert release["status"]["namespace"] == "argo"
    assert release["status"]["version"] == "0.45.0"


def test_a_random_password_has_a_stable_result_of_the_requested_length():
    import pulumi_random as random

    def program() -> None:
        password = random.RandomPassword("db", length=32, special=False)
        pulumi.export("password", password.result)

    first, second = plan_of(program), plan_of(program)
    assert len(first.outputs["password"]) == 32
    assert first.outputs == second.outputs
    assert first.secret_outputs == ["password"], "the SDK keeps the result secret"
