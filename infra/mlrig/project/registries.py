"""Container image repositories of a project in one environment (one per `registries` entry).

Each environment has its own repositories: under the deploy-code pattern the CI deployer of each
environment builds and pushes that environment's images, so no environment pulls images from
another account. Nodes pull (kubelet uses the node role, not the pod's identity).
"""

from __future__ import annotations

import json
from typing import Any, cast

import pulumi
import pulumi_aws as aws

from .. import naming
from ..bundle.model import RegistrySettings
from ..ci.images import image_architectures
from .context import ProjectContext
from .identity import CI_DEPLOYER, ECR_PUSH_ACTIONS, Identity, policy_document

ECR_PULL_ACTIONS = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
ECR_WRITE_ACTIONS = ["ecr:CompleteLayerUpload", "ecr:InitiateLayerUpload", "ecr:PutImage", "ecr:UploadLayerPart"]


def images_per_build(architectures: int) -> int:
    """ECR images one CI build pushes to a repository: its image, or, built for several
    architectures, one image per architecture and the index that joins them (each counts)."""
    return 1 if architectures <= 1 else architectures + 1


def lifecycle_policy(settings: RegistrySettings, architectures: int = 1) -> str:
    """Untagged images expire after `untaggedExpiryDays`; the images of the last `keepLastImages`
    builds stay. Counted in builds, not images: counting a multi-architecture build's images one
    by one would keep a third of the builds asked for, and could expire one architecture's image
    of a kept index, so a rollback to it would fail to pull on those nodes."""
    return json.dumps(
        {
            "rules": [
                {
                    "rulePriority": 1,
                    "description": "Expire untagged images",
                    "selection": {
                        "tagStatus": "untagged",
                        "countType": "sinceImagePushed",
                        "countUnit": "days",
                        "countNumber": settings.untagged_expiry_days,
                    },
                    "action": {"type": "expire"},
                },
                {
                    "rulePriority": 2,
                    "description": "Keep the images of the most recent builds",
                    "selection": {
                        "tagStatus": "any",
                        "countType": "imageCountMoreThan",
                        "countNumber": settings.keep_last_images * images_per_build(architectures),
                    },
                    "action": {"type": "expire"},
                },
            ]
        }
    )


def repository_policy_statements(ctx: ProjectContext) -> list[dict[str, Any]]:
    names = ctx.names
    platform_env = ctx.env.platform_environment
    cluster = naming.cluster_name(platform_env.platform_name, platform_env.name, platform_env.isolation)
    ci_deployer = names.role_arn(CI_DEPLOYER)
    return [
        {"Sid": "CiDeployerPushes", "Effect": "Allow", "Principal": {"AWS": ci_deployer}, "Action": ECR_PUSH_ACTIONS},
        {
            "Sid": "NodesPull",
            "Effect": "Allow",
            "Principal": {
                "AWS": [ctx.platform.node_role_arn, naming.project_role_arn(names, naming.system_node_role(cluster))]
            },
            "Action": ECR_PULL_ACTIONS,
        },
        {
            "Sid": "OnlyCiDeployerPushes",
            "Effect": "Deny",
            "Principal": "*",
            "Action": ECR_WRITE_ACTIONS,
            "Condition": {"StringNotEquals": {"aws:PrincipalArn": ci_deployer}},
        },
    ]


class Registries(pulumi.ComponentResource):
    """One ECR repository per registry. `pulled_from[registry]`: what a pod pulling the registry's
    images waits for (the repository, its lifecycle policy and the policy that lets nodes pull)."""

    repositories: dict[str, aws.ecr.Repository]
    pulled_from: dict[str, tuple[pulumi.Resource, ...]]

    def __init__(
        self,
        name: str,
        ctx: ProjectContext,
        identity: Identity,
        key_arn: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("mlrig:project:Registries", name, None, opts)
        self._ctx = ctx
        architectures = image_architectures(ctx.env.spec)
        self.pulled_from = {
            registry: self._repository(registry, len(architectures[registry]), identity, key_arn)
            for registry in ctx.env.spec.registries
        }
        self.repositories = {registry: cast(aws.ecr.Repository, rs[0]) for registry, rs in self.pulled_from.items()}
        if self.pulled_from:
            self._image_tag_parameter()
        self.register_outputs({"repositoryUrls": {r: repo.repository_url for r, repo in self.repositories.items()}})

    def _image_tag_parameter(self) -> aws.ssm.Parameter:
        """Where the release CI records the tag it rolls out (`image_tag.py`). The stack owns the
        parameter's life, the CI its value (`put-parameter --overwrite`, never reset here): were the
        CI to create it, `pulumi destroy` would leave it behind, and the environment created again
        would build with, and force, a tag its new, empty repositories never held."""
        ctx = self._ctx
        return aws.ssm.Parameter(
            f"{ctx.names.prefix}-image-tag",
            name=ctx.names.image_tag_parameter(),
            type="String",
            insecure_value=naming.NOT_RECORDED,
            description="Image tag the release CI last rolled the project's images to",
            opts=pulumi.ResourceOptions.merge(
                ctx.aws_opts(self), pulumi.ResourceOptions(ignore_changes=["insecureValue"])
            ),
        )

    def _repository(
        self, registry: str, architectures: int, identity: Identity, key_arn: pulumi.Input[str]
    ) -> tuple[pulumi.Resource, ...]:
        """The repository (of an image built for `architectures` CPU architectures), then its
        lifecycle policy and repository policy."""
        ctx = self._ctx
        logical = f"{ctx.names.prefix}-{registry}"
        repository = aws.ecr.Repository(
            logical,
            name=ctx.names.repository(registry),
            image_tag_mutability="IMMUTABLE",
            image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(scan_on_push=True),
            encryption_configurations=[
                aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="KMS", kms_key=key_arn)
            ],
            force_delete=ctx.empties_on_delete,
            opts=ctx.aws_opts(self, stateful=True),
        )
        lifecycle = aws.ecr.LifecyclePolicy(
            f"{logical}-lifecycle",
            repository=repository.name,
            policy=lifecycle_policy(ctx.env.spec.registry, architectures),
            opts=ctx.aws_opts(self, stateful=True),
        )
        policy = aws.ecr.RepositoryPolicy(
            f"{logical}-policy",
            repository=repository.name,
            policy=policy_document(repository_policy_statements(ctx)),
            opts=ctx.aws_opts(self, stateful=True, depends_on=[identity.ci_deployer]),
        )
        return repository, lifecycle, policy
