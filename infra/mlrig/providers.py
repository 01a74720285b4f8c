"""Cloud providers of a stack: one AWS provider (default tags, assumed role under `account`
isolation) and Kubernetes providers for a cluster, built in one place."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from .naming import role_arn


def aws_provider(
    name: str,
    *,
    region: str,
    default_tags: dict[str, str],
    account: str | None,
    assume_role: str | None,
    session_name: str,
) -> aws.Provider:
    """An explicit AWS provider: every resource of the stack goes through it, so default tags
    apply everywhere and, under `account` isolation, Pulumi works inside the environment's
    account through its deployment role."""
    assume_roles = (
        [
            aws.ProviderAssumeRoleArgs(
                role_arn=role_arn(account, region, assume_role),
                session_name=session_name[:64],
            )
        ]
        if assume_role and account
        else None
    )
    return aws.Provider(
        name,
        region=region,
        default_tags=aws.ProviderDefaultTagsArgs(tags=default_tags),
        allowed_account_ids=[account] if account else None,
        assume_roles=assume_roles,
    )


def aws_resource_options(
    parent: pulumi.Resource,
    provider: aws.Provider,
    *,
    protect: bool,
    depends_on: Sequence[pulumi.Resource] = (),
) -> pulumi.ResourceOptions:
    """Options of an AWS resource in a component: the stack's provider, and for prod stateful
    resources `protect` and `retain_on_delete` together (never deleted by a mistaken change)."""
    return pulumi.ResourceOptions(
        parent=parent, provider=provider, protect=protect, retain_on_delete=protect, depends_on=list(depends_on)
    )


def kubeconfig(
    cluster_name: pulumi.Input[str],
    endpoint: pulumi.Input[str],
    certificate_authority: pulumi.Input[str],
    region: str,
    role_arn: pulumi.Input[str] | None = None,
) -> pulumi.Output[str]:
    """A kubeconfig that authenticates with `aws eks get-token` (no static credentials)."""

    def render(args: list[str | None]) -> str:
        name, server, ca, role = args
        command_args = ["eks", "get-token", "--cluster-name", name, "--region", region, "--output", "json"]
        if role:
            command_args += ["--role-arn", role]
        return json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": name, "cluster": {"server": server, "certificate-authority-data": ca}}],
                "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
                "current-context": name,
                "users": [
                    {
                        "name": name,
                        "user": {
                            "exec": {
                                "apiVersion": "client.authentication.k8s.io/v1beta1",
                                "command": "aws",
                                "args": command_args,
                                "interactiveMode": "Never",
                            }
                        },
                    }
                ],
            }
        )

    return pulumi.Output.all(cluster_name, endpoint, certificate_authority, role_arn).apply(render)


def kubernetes_provider(
    name: str,
    *,
    kubeconfig: pulumi.Input[str],
    opts: pulumi.ResourceOptions | None = None,
) -> k8s.Provider:
    return k8s.Provider(
        name,
        kubeconfig=kubeconfig,
        enable_server_side_apply=True,
        # Creating an object that already exists must fail, never adopt it: otherwise a project
        # named like `kube-system`, or a NodePool named like another project's, would take over
        # objects it does not own. Set explicitly, so PULUMI_K8S_UPSERT_EXISTING_OBJECTS cannot
        # turn it on either.
        upsert_existing_objects=False,
        delete_unreachable=False,
        opts=opts,
    )
