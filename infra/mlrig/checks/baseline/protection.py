"""Prod stateful resources are protected from `pulumi destroy` and retained if removed from code."""

from __future__ import annotations

from collections.abc import Iterator

from .. import Violation, check
from ..graph import StackGraph

STATEFUL = (
    "aws:s3/bucket:Bucket",
    "aws:rds/instance:Instance",
    "aws:kms/key:Key",
    "aws:ecr/repository:Repository",
    "aws:opensearch/domain:Domain",
    "aws:rds/cluster:Cluster",
    "aws:efs/fileSystem:FileSystem",
    "aws:secretsmanager/secret:Secret",
    "aws:glue/catalogDatabase:CatalogDatabase",
    "aws:cloudwatch/logGroup:LogGroup",
)


@check(
    "MLRIG-SEC-003",
    "Prod stateful resources are protected and retained on delete",
    "Without protect and retainOnDelete a refactor or a mistaken destroy deletes prod data, models, images, "
    "the secrets and logs that go with them, and the keys that decrypt them.",
    applies_to=STATEFUL,
)
def prod_state_is_protected(graph: StackGraph) -> Iterator[Violation]:
    if graph.tier != "prod":
        return
    for resource in graph.of_type(*STATEFUL):
        # An option that is absent is off; None means not visible (CrossGuard hides retainOnDelete).
        missing = [o for o in ("protect", "retainOnDelete") if resource.options.get(o, False) is False]
        if missing:
            yield Violation(
                resource,
                f"prod {resource.type.rsplit(':', 1)[-1]} {resource.name} lacks {' and '.join(missing)}",
                "create it with ResourceOptions(protect=True, retain_on_delete=True)",
            )
