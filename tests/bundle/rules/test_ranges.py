"""Ranges and formats the schema enforces: percentages, retention days, counts, repository and
account formats, enumerations. Each with a failing and a passing case."""

from __future__ import annotations

import pytest

from ..helpers import check_admitted, check_platform, check_project, explain


@pytest.mark.parametrize(
    ("path", "bad", "good", "expected"),
    [
        ("spec.serving.endpoints[0].rollout.percent", 101, 99, "must be at most 100"),
        ("spec.serving.endpoints[0].rollout.percent", -1, 1, "must be at least 0"),
        ("spec.storage.stagingRetentionDays", 0, 1, "must be at least 1"),
        ("spec.storage.stagingRetentionDays", 366, 365, "must be at most 365"),
        ("spec.llm.feedback.retentionDays", 0, 30, "must be at least 1"),
        ("spec.monitoring.drift.threshold", 1.5, 1.0, "must be at most 1"),
        ("spec.monitoring.errorRate", -0.1, 0.0, "must be at least 0"),
        ("spec.compute.pools[1].gpu.count", 0, 1, "must be at least 1"),
        ("spec.compute.pools[0].max", 1001, 1000, "must be at most 1000"),
        ("spec.repository", "fraud-detection", "acme/fraud-detection", "org/name"),
        ("spec.repository", "acme/fraud/detection", "acme/fraud.detection", "org/name"),
        ("spec.compute.pools[1].capacity", "ondemand", "on-demand", "did you mean 'on-demand'"),
        ("spec.pipelines.train.type", "train", "training", "did you mean 'training'"),
        ("spec.serving.endpoints[0].rollout.strategy", "blue-green", "canary", "use one of"),
        ("spec.llm.vectorDatabase.engine", "pinecone", "opensearch", "use one of 'pgvector' or 'opensearch'"),
        ("spec.pipelines.train.resources.memory", "26GB", "26Gi", "Kubernetes memory quantity"),
        ("spec.access.dataScientists[0]", "alice", "arn:aws:iam::111111111111:user/alice", "IAM user or role ARN"),
        ("spec.ci.prodApprovers[0]", "ml-leads", "@acme/ml-leads", "GitHub user or team handle"),
    ],
)
def test_values_out_of_range_or_format_are_rejected_and_the_boundary_passes(
    path: str, bad: object, good: object, expected: str
):
    base = "rag" if path.startswith("spec.llm") else "fraud"
    result = check_project({path: bad}, base=base)
    assert [e.path for e in result.diagnostics] == [path], explain(result)
    assert expected in result.diagnostics[0].message
    # A pool of 1,000 nodes is in range, and beyond the platform's default capacity bound.
    platform = {"spec.tenancy.maxNodes": 2000} if path.endswith(".max") else None
    passing = check_admitted({path: good}, base=base, platform_changes=platform)
    assert passing.valid, explain(passing)


@pytest.mark.parametrize(
    ("path", "bad", "expected"),
    [
        ("spec.environments.dev.tier", "development", "did you mean"),
        ("spec.isolation", "accounts", "did you mean 'account'"),
        ("spec.environments.dev.region", "US-EAST-1", "AWS region"),
        ("spec.environments.dev.network.cidr", "10.10.0.0", "IPv4 CIDR"),
        ("spec.cluster.version", "1.34.1", "Kubernetes minor version"),
        ("spec.environments.dev.network.availabilityZones", 1, "at least 2"),
    ],
)
def test_platform_values_out_of_range_or_format_are_rejected(path: str, bad: object, expected: str):
    result = check_platform({path: bad})
    assert [e.path for e in result.diagnostics] == [path], explain(result)
    assert expected in result.diagnostics[0].message
