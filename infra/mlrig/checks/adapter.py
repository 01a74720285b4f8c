"""One adapter between Pulumi CrossGuard and mlrig's plan records.

CrossGuard gives a stack policy `PolicyResource`s (type, props, urn, name, opts, provider, parent);
mlrig's checks read plan records (type, name, inputs, outputs, options, parent). Props are the
resource's inputs during a preview and its outputs after an update; both become `inputs` and
`outputs` here. Values unknown during a preview become None, as in `mlrig plan`, so a check skips
them instead of failing. CrossGuard does not expose `retainOnDelete`: it is None (unknown) here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from . import Check, Finding, run_check
from .graph import StackGraph

# pulumi_policy's sentinels for values unknown during a preview (pulumi_policy/proxy.py).
UNKNOWNS = frozenset(
    {
        "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7",
        "3eeb2bf0-c639-47a8-9e75-3b44932eb421",
        "04da6b54-80e4-46f7-96ec-b56ff0331ba9",
        "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",
        "030794c1-ac77-496b-92df-f27374a8bd58",
        "e48ece36-62e2-4504-bad9-02848725956a",
        "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",
    }
)
TIERS = ("dev", "staging", "prod")


def plain(value: Any) -> Any:
    """CrossGuard's unknown-checking proxies as plain data, unknowns as None."""
    if isinstance(value, Mapping):
        target = _target(value)
        return {str(k): plain(target[k]) for k in target}
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        target = _target(value)
        return [plain(item) for item in target]
    if isinstance(value, str) and value in UNKNOWNS:
        return None
    return value


def _target(proxy: Any) -> Any:
    """The wrapped container of a pulumi_policy proxy (reading it through the proxy raises on unknowns)."""
    try:
        inner = proxy["__target"]
    except (KeyError, TypeError, IndexError):
        return proxy
    return inner if inner is not None else proxy


def stack_of(urn: str) -> str:
    """`urn:pulumi:<stack>::<project>::...` → `<stack>`."""
    return urn.split("::", 1)[0].removeprefix("urn:pulumi:")


def record_of(resource: Any) -> dict[str, Any]:
    props = plain(resource.props)
    provider = getattr(resource, "provider", None)
    opts = getattr(resource, "opts", None)
    parent = getattr(resource, "parent", None)
    return {
        "urn": resource.urn,
        "type": resource.resource_type,
        "name": resource.name,
        "inputs": props,
        "outputs": props,
        "options": {
            "protect": bool(getattr(opts, "protect", False)),
            "retainOnDelete": None,
            **({"ignoreChanges": list(opts.ignore_changes or [])} if opts is not None else {}),
            "provider": provider.urn if provider is not None else None,
            "dependsOn": [d.urn for d in getattr(resource, "dependencies", None) or []],
        },
        "parent": parent.urn if parent is not None else None,
    }


def provider_record(provider: Any) -> dict[str, Any]:
    props = plain(provider.props)
    return {
        "urn": provider.urn,
        "type": provider.resource_type,
        "name": provider.name,
        "inputs": props,
        "outputs": props,
        "options": {},
        "parent": None,
    }


def tier_of(records: Iterable[Mapping[str, Any]], stack: str) -> str | None:
    for record in records:
        labels = ((record.get("inputs") or {}).get("metadata") or {}).get("labels") or {}
        if isinstance(labels, Mapping) and labels.get("mlrig.io/tier") in TIERS:
            return str(labels["mlrig.io/tier"])
    environment = stack.rsplit(".", 1)[-1]
    return environment if environment in TIERS else None


def graph_from_policy_resources(resources: Iterable[Any], config: Mapping[str, Any] | None = None) -> StackGraph:
    """The stack graph CrossGuard shows one policy. `config` is the policy's configuration
    (`--policy-pack-config`): `principalOwners` (see `mlrig policy-pack config`) and `tier`."""
    records: dict[str, dict[str, Any]] = {}
    for resource in resources:
        records[resource.urn] = record_of(resource)
        provider = getattr(resource, "provider", None)
        if provider is not None and provider.urn not in records:
            records[provider.urn] = provider_record(provider)
    stack = stack_of(next(iter(records), "urn:pulumi:unknown::"))
    config = config or {}
    owners = config.get("principalOwners")
    return StackGraph.of(
        stack,
        records.values(),
        tier=str(config.get("tier") or "") or tier_of(records.values(), stack),
        principal_owners=dict(owners) if isinstance(owners, Mapping) else None,
    )


def report(finding: Finding) -> str:
    return f"{finding.message}" + (f"; fix: {finding.hint}" if finding.hint else "")


def policy_validator(item: Check) -> Callable[[Any, Callable[..., None]], None]:
    """The `validate` of a CrossGuard StackValidationPolicy that runs one check."""

    def validate(args: Any, report_violation: Callable[..., None]) -> None:
        config = args.get_config() if hasattr(args, "get_config") else None
        graph = graph_from_policy_resources(args.resources, config)
        for finding in run_check(item, graph):
            report_violation(report(finding), finding.urn)

    return validate


# The configuration every policy of the pack accepts (`pulumi ... --policy-pack-config FILE`).
CONFIG_PROPERTIES: dict[str, Any] = {
    "principalOwners": {
        "type": "object",
        "description": "Role-name prefix -> the stack that creates those roles (from `mlrig policy-pack config`).",
        "additionalProperties": {"type": "string"},
    },
    "tier": {"type": "string", "enum": list(TIERS), "description": "The stack's tier when its name does not say."},
}


PRINCIPALS_POLICY = "mlrig-dep-005"


def policy_pack_config(owners: Mapping[str, str]) -> dict[str, Any]:
    """A `--policy-pack-config` document telling MLRIG-DEP-005 which stack creates which roles."""
    return {PRINCIPALS_POLICY: {"enforcementLevel": "mandatory", "principalOwners": dict(owners)}}
