"""What every platform component receives: the resolved environment, the stack's AWS provider and
whether its stateful resources are protected. Components never read files, config or env vars."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from .. import naming
from ..bundle.resolved import Platform, PlatformEnvironment
from ..providers import aws_resource_options

# Pod Identity: the EKS agent assumes workload roles on behalf of pods (no IRSA, no OIDC trust).
POD_IDENTITY_PRINCIPAL = "pods.eks.amazonaws.com"


@dataclass(frozen=True)
class PlatformTarget:
    platform: Platform
    env: PlatformEnvironment
    aws_provider: aws.Provider

    @property
    def cluster_name(self) -> str:
        return naming.cluster_name(self.platform.name, self.env.name, self.platform.isolation)

    @property
    def partition(self) -> str:
        return naming.partition(self.env.region)

    @property
    def protect(self) -> bool:
        """Prod stateful resources (keys, log groups) are protected and retained on delete."""
        return self.env.tier == "prod"

    def aws_opts(
        self, parent: pulumi.Resource, *, stateful: bool = False, depends_on: Sequence[pulumi.Resource] = ()
    ) -> pulumi.ResourceOptions:
        return aws_resource_options(parent, self.aws_provider, protect=self.protect and stateful, depends_on=depends_on)


def policy_document(statements: list[dict[str, Any]]) -> pulumi.Output[str]:
    """An IAM policy document; statements may hold Outputs (ARNs of resources being created)."""
    return pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": statements})


def service_trust(service: str, *, tag_session: bool = False) -> str:
    """Trust policy letting one AWS service principal assume a role."""
    import json

    actions = ["sts:AssumeRole", "sts:TagSession"] if tag_session else "sts:AssumeRole"
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": actions}],
        }
    )


def pod_identity_trust() -> str:
    """Trust policy of a Pod Identity role: the EKS Pod Identity agent assumes it and tags the session."""
    return service_trust(POD_IDENTITY_PRINCIPAL, tag_session=True)


def managed_policy_arn(partition: str, name: str) -> str:
    return f"arn:{partition}:iam::aws:policy/{name}"
