"""Every AWS resource carries the cost and ownership tags, through its provider's default tags."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .. import Violation, check
from ..graph import AWS_PROVIDER, Resource, StackGraph, json_value

REQUIRED_TAGS = ("project", "environment", "team", "cost-center", "managed-by")


def default_tags(provider: Resource) -> dict[str, Any]:
    value = json_value(provider.inputs.get("defaultTags"))
    tags = value.get("tags") if isinstance(value, dict) else None
    return dict(tags) if isinstance(tags, dict) else {}


@check(
    "MLRIG-SEC-004",
    "Every AWS resource gets the required tags from its provider",
    "Untagged resources cannot be attributed to a project, team or cost centre, so cost reports and "
    "tag-based access conditions miss them.",
    applies_to=(AWS_PROVIDER,),
)
def aws_resources_are_tagged(graph: StackGraph) -> Iterator[Violation]:
    providers = {p.urn: p for p in graph.of_type(AWS_PROVIDER)}
    used: set[str] = set()
    untagged_default = None
    for resource in graph.resources:
        if not resource.type.startswith("aws:"):
            continue
        urn = resource.provider_urn
        if urn in providers:
            used.add(urn)  # type: ignore[arg-type]
        elif untagged_default is None:
            untagged_default = resource
    for urn in sorted(used):
        tags = default_tags(providers[urn])
        missing = [t for t in REQUIRED_TAGS if not tags.get(t)]
        if missing:
            yield Violation(
                providers[urn],
                f"AWS provider {providers[urn].name} sets no default tag {', '.join(missing)}",
                f"give the provider default_tags with {', '.join(REQUIRED_TAGS)}",
            )
    if untagged_default is not None:
        yield Violation(
            untagged_default,
            f"{untagged_default.name} uses the default AWS provider, which sets no default tags",
            "create AWS resources with an explicit provider whose default_tags carry the required tags",
        )
