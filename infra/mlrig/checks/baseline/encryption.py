"""Encryption at rest with a key the project controls, wherever AWS offers it.

S3 buckets default-encrypt with SSE-KMS; the one exception is a bucket that receives S3 server
access logs, which must use SSE-S3 (S3 cannot write access logs to an SSE-KMS bucket).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .. import Violation, check
from ..graph import Resource, StackGraph, dig

BUCKET = "aws:s3/bucket:Bucket"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
LOGGING = "aws:s3/bucketLogging:BucketLogging"
KMS_ALGORITHMS = ("aws:kms", "aws:kms:dsse")


def _identifiers(resource: Resource) -> set[str]:
    return {str(v) for v in (resource.get("bucket"), resource.get("id"), resource.get("arn")) if v} | {resource.urn}


def _bucket_algorithms(graph: StackGraph) -> dict[str, str]:
    found: dict[str, str] = {}
    for config in graph.of_type(SSE):
        for rule in config.inputs.get("rules") or []:
            algorithm = dig(rule, "applyServerSideEncryptionByDefault", "sseAlgorithm")
            if algorithm:
                found[str(config.inputs.get("bucket"))] = str(algorithm)
    return found


def _log_targets(graph: StackGraph) -> set[str]:
    return {str(r.inputs.get("targetBucket")) for r in graph.of_type(LOGGING) if r.inputs.get("targetBucket")}


def _unencrypted(resource: Resource) -> str | None:
    """Why a non-S3 resource is not encrypted with a customer key, or None."""
    inputs: Any = resource.inputs
    kind = resource.type
    if kind == "aws:rds/instance:Instance" and not inputs.get("storageEncrypted"):
        return "storageEncrypted is not true"
    if kind == "aws:opensearch/domain:Domain" and not dig(inputs, "encryptAtRest", "enabled"):
        return "encryptAtRest is not enabled"
    if kind == "aws:sqs/queue:Queue" and not (inputs.get("sqsManagedSseEnabled") or inputs.get("kmsMasterKeyId")):
        return "neither sqsManagedSseEnabled nor kmsMasterKeyId is set"
    if kind == "aws:sns/topic:Topic" and not inputs.get("kmsMasterKeyId"):
        return "kmsMasterKeyId is not set"
    if kind == "aws:ecr/repository:Repository":
        types = [c.get("encryptionType") for c in inputs.get("encryptionConfigurations") or []]
        if "KMS" not in types:
            return "encryptionConfigurations has no KMS encryption"
    if kind == "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream" and not dig(
        inputs, "serverSideEncryption", "enabled"
    ):
        return "serverSideEncryption is not enabled"
    if kind == "aws:secretsmanager/secret:Secret" and not inputs.get("kmsKeyId"):
        return "kmsKeyId is not set (the AWS-managed key cannot be shared or scoped by a key policy)"
    if kind == "aws:eks/cluster:Cluster" and "secrets" not in (dig(inputs, "encryptionConfig", "resources") or []):
        return "encryptionConfig does not cover Kubernetes secrets"
    return None


TYPES = (
    BUCKET,
    "aws:rds/instance:Instance",
    "aws:opensearch/domain:Domain",
    "aws:sqs/queue:Queue",
    "aws:sns/topic:Topic",
    "aws:ecr/repository:Repository",
    "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream",
    "aws:secretsmanager/secret:Secret",
    "aws:eks/cluster:Cluster",
)


@check(
    "MLRIG-SEC-001",
    "Data at rest is encrypted, with a KMS key where the service offers one",
    "Unencrypted stores, or stores encrypted with AWS-managed keys, sit outside the project key's "
    "policy: anyone with the service's read permission reads the data.",
    applies_to=(*TYPES, SSE),
)
def data_is_encrypted_at_rest(graph: StackGraph) -> Iterator[Violation]:
    algorithms = _bucket_algorithms(graph)
    log_targets = _log_targets(graph)
    for resource in graph.of_type(*TYPES):
        if resource.type != BUCKET:
            reason = _unencrypted(resource)
            if reason:
                yield Violation(
                    resource,
                    f"{resource.type.rsplit(':', 1)[-1]} {resource.name}: {reason}",
                    "encrypt it with the project's KMS key",
                )
            continue
        ids = _identifiers(resource)
        algorithm = next((a for bucket, a in algorithms.items() if bucket in ids), None)
        if ids & log_targets:
            if algorithm not in (None, "AES256"):
                yield Violation(
                    resource,
                    f"bucket {resource.name} receives S3 access logs but uses {algorithm}",
                    "use SSE-S3 (AES256): S3 cannot deliver access logs to an SSE-KMS bucket",
                )
            continue
        if algorithm not in KMS_ALGORITHMS:
            yield Violation(
                resource,
                f"bucket {resource.name} has no SSE-KMS default encryption ({algorithm or 'none configured'})",
                "add a BucketServerSideEncryptionConfiguration with sseAlgorithm aws:kms and the project key",
            )
