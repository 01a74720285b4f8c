"""The vector database as an OpenSearch domain (`llm.vectorDatabase.engine: opensearch`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from parliament import analyze_policy_string, enhance_finding

from mlrig.plan.engine import StackPlan

from .conftest import plan_variant
from .iam_eval import StackIam, decision

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def opensearch_plans(tmp_path_factory: pytest.TempPathFactory, repo_root: Path) -> dict[str, StackPlan]:
    return plan_variant(
        tmp_path_factory.mktemp("opensearch"),
        repo_root,
        "rag-assistant.yaml",
        [("vectorDatabase: { engine: pgvector,", "vectorDatabase: { engine: opensearch,")],
        "opensearch",
    )


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_the_opensearch_domain_is_private_encrypted_and_https_only(
    environment: str, opensearch_plans: dict[str, StackPlan], platform_plan
) -> None:  # type: ignore[no-untyped-def]
    plan = opensearch_plans[environment]
    (domain,) = plan.of_type("aws:opensearch/domain:Domain")
    spec = domain["inputs"]
    (key,) = plan.of_type("aws:kms/key:Key")
    assert spec["domainName"] == f"rag-assistant--{environment}--vec"
    assert spec["encryptAtRest"] == {"enabled": True, "kmsKeyId": key["outputs"]["arn"]}
    assert spec["nodeToNodeEncryption"] == {"enabled": True}
    assert spec["domainEndpointOptions"]["enforceHttps"] is True
    assert spec["domainEndpointOptions"]["tlsSecurityPolicy"].startswith("Policy-Min-TLS-1-2")
    assert spec["vpcOptions"]["subnetIds"] and set(spec["vpcOptions"]["subnetIds"]) <= set(
        platform_plan(environment).outputs["privateSubnetIds"]
    )
    security = spec["advancedSecurityOptions"]
    assert security["enabled"] is True and security["anonymousAuthEnabled"] is False
    assert security["internalUserDatabaseEnabled"] is False
    assert domain["options"]["protect"] is (environment == "prod")
    assert [
        d for d in plan.of_type("aws:rds/instance:Instance") if d["inputs"]["identifier"].endswith("-vectors")
    ] == []


ROLE = "arn:aws:iam::333333333333:role/rag-assistant--prod--wl--{}"
DOMAIN = "arn:aws:es:us-east-1:333333333333:domain/rag-assistant--prod--vec"
WRITE = ["es:ESHttpDelete", "es:ESHttpGet", "es:ESHttpHead", "es:ESHttpPost", "es:ESHttpPut"]
READ = ["es:ESHttpGet", "es:ESHttpHead", "es:ESHttpPost"]


def serious(policy: dict) -> list:
    return [
        f
        for f in map(enhance_finding, analyze_policy_string(json.dumps(policy)).findings)
        if f.severity in {"CRITICAL", "HIGH", "MEDIUM", "INVALID", "MALFORMED"}
    ]


def test_the_domain_lets_in_the_index_refresh_to_write_serving_to_read_and_its_master_to_map_roles(
    opensearch_plans: dict[str, StackPlan],
) -> None:
    plan = opensearch_plans["prod"]
    (domain,) = plan.of_type("aws:opensearch/domain:Domain")
    policy = json.loads(domain["inputs"]["accessPolicies"])
    granted = {tuple(sorted(as_list(s["Principal"]["AWS"]))): (s["Action"], s["Resource"]) for s in policy["Statement"]}
    assert granted == {
        (ROLE.format("index-docs"),): (WRITE, f"{DOMAIN}/*"),
        (ROLE.format("serving"),): (READ, f"{DOMAIN}/*"),
        (ROLE.format("vector-admin"),): (["es:ESHttpGet", "es:ESHttpPut"], f"{DOMAIN}/_plugins/_security/api/*"),
    }
    assert serious(policy) == []


def test_the_master_user_is_a_role_mlrig_creates_for_mapping_roles_not_a_person_or_ci(
    opensearch_plans: dict[str, StackPlan],
) -> None:
    plan = opensearch_plans["prod"]
    (domain,) = plan.of_type("aws:opensearch/domain:Domain")
    master = domain["inputs"]["advancedSecurityOptions"]["masterUserOptions"]["masterUserArn"]
    iam = StackIam.of(plan)
    (name,) = (n for n, r in iam.roles.items() if r["arn"] == master)
    assert name == "rag-assistant--prod--wl--vector-admin"
    assert iam.roles[name]["tags"]["mlrig:persona"] == "workload"
    (trust,) = iam.roles[name]["trust"]["Statement"]
    assert trust["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert trust["Condition"]["StringEquals"]["aws:RequestTag/kubernetes-service-account"] == "wl-vector-admin"
    (association,) = [
        a
        for a in plan.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")
        if a["inputs"]["serviceAccount"] == "wl-vector-admin"
    ]
    assert association["inputs"]["roleArn"] == master
    # It may call the security API of its own domain and nothing else.
    (document,) = iam.role_policies[name]
    assert document["Statement"] == [
        {
            "Sid": "MapOpenSearchRoles",
            "Effect": "Allow",
            "Action": ["es:ESHttpGet", "es:ESHttpPut"],
            "Resource": f"{DOMAIN}/_plugins/_security/api/*",
        }
    ]
    assert serious(document) == []


def test_only_the_vector_clients_may_call_the_domain_and_serving_cannot_write(
    opensearch_plans: dict[str, StackPlan],
) -> None:
    iam = StackIam.of(opensearch_plans["prod"])
    index = f"{DOMAIN}/rag-assistant-docs/_doc/1"

    def allowed(role: str, action: str, resource: str = index) -> bool:
        return decision(iam.role_policies.get(role, []), action, resource) == "allow"

    refresh, serving = "rag-assistant--prod--wl--index-docs", "rag-assistant--prod--wl--serving"
    assert all(allowed(refresh, action) for action in WRITE)
    assert allowed(serving, "es:ESHttpPost") and allowed(serving, "es:ESHttpGet")
    assert not allowed(serving, "es:ESHttpPut") and not allowed(serving, "es:ESHttpDelete")
    assert not allowed("rag-assistant--prod--wl--vector-admin", "es:ESHttpGet")
    others = [r for r in iam.roles if r not in {refresh, serving, "rag-assistant--prod--wl--vector-admin"}]
    assert others and not [r for r in others for a in WRITE if allowed(r, a)]
    # No role reaches another domain, and every document is clean under parliament.
    for documents in iam.role_policies.values():
        for document in documents:
            for statement in document["Statement"]:
                if any(str(a).startswith("es:") for a in as_list(statement["Action"])):
                    assert str(statement["Resource"]).startswith(f"{DOMAIN}/")
            assert serious(document) == []


def as_list(value: object) -> list:
    return value if isinstance(value, list) else [value]
