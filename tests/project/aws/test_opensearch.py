"""The vector database as an OpenSearch domain (`llm.vectorDatabase.engine: opensearch`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from parliament import analyze_policy_string, enhance_finding

from mlrig.plan.engine import StackPlan

from .conftest import plan_variant

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


def test_only_the_index_refresh_and_serving_workloads_reach_the_domain(opensearch_plans: dict[str, StackPlan]) -> None:
    plan = opensearch_plans["prod"]
    (domain,) = plan.of_type("aws:opensearch/domain:Domain")
    policy = json.loads(domain["inputs"]["accessPolicies"])
    (statement,) = policy["Statement"]
    assert sorted(statement["Principal"]["AWS"]) == [
        "arn:aws:iam::333333333333:role/rag-assistant--prod--wl--index-docs",
        "arn:aws:iam::333333333333:role/rag-assistant--prod--wl--serving",
    ]
    assert statement["Resource"] == "arn:aws:es:us-east-1:333333333333:domain/rag-assistant--prod--vec/*"
    findings = [
        f
        for f in map(enhance_finding, analyze_policy_string(json.dumps(policy)).findings)
        if f.severity in {"CRITICAL", "HIGH", "MEDIUM", "INVALID", "MALFORMED"}
    ]
    assert findings == []
