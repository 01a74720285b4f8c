"""The difference between two offline plans of one stack: resources added, removed, replaced and
updated, with their property-level changes (secrets masked).

Resources are matched by URN. A resource whose URN changed (a new logical name, type or parent)
is deleted and recreated by Pulumi: it is paired with its successor (same type and logical name,
or same type and physical id) and reported as replaced, with the reason. A resource with the same
URN is replaced when a changed input is one `replacement.REPLACE_ON_CHANGE` lists for its type,
or its own `replaceOnChanges` option names; otherwise it is updated in place. Only custom
resources are compared: components hold no cloud state.

A change `pulumi up` will refuse carries its reason in `refused`: an update the cloud rejects
(`replacement.REFUSED_UPDATES`), or what the engine stops at (`engine_refusals`: deleting or
replacing a protected resource, a replacement created under the name its predecessor holds).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .engine_refusals import name_collision, protected_refusal
from .replacement import is_stateful, refused_update, replacing_paths

MASK = "[secret]"
# The last segment of a property path that names a credential (compared lower-case, without _ and -).
SECRET_KEY = re.compile(
    r"(password|passwd|passphrase|secret|secretstring|secretbinary|token|apikey|privatekey|credentials?|"
    r"secretaccesskey|accesskey|webhookurl|routingkey|connectionstring)$"
)
# Kubernetes Secrets hold nothing but secrets under these keys.
SECRET_DATA_TYPES = {"kubernetes:core/v1:Secret": ("data", "stringData")}
OPTIONS_COMPARED = ("protect", "retainOnDelete", "deleteBeforeReplace")


def looks_secret(key: str) -> bool:
    return bool(SECRET_KEY.search(key.lower().replace("_", "").replace("-", "")))


@dataclass(frozen=True)
class PropertyChange:
    path: str
    before: Any
    after: Any
    replaces: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "before": self.before, "after": self.after, "replaces": self.replaces}


@dataclass(frozen=True)
class ResourceChange:
    """One resource's fate: `create`, `delete`, `replace` or `update`."""

    action: str
    urn: str
    type: str
    name: str
    stateful: bool
    protected: bool
    changes: tuple[PropertyChange, ...] = ()
    reasons: tuple[str, ...] = ()
    previous_urn: str | None = None
    refused: str | None = None  # why pulumi up (the engine or the cloud) will refuse this change

    def as_dict(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "action": self.action,
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "stateful": self.stateful,
            "protected": self.protected,
            "changes": [c.as_dict() for c in self.changes],
            "reasons": list(self.reasons),
        }
        if self.previous_urn:
            payload["previousUrn"] = self.previous_urn
        if self.refused:
            payload["refused"] = self.refused
        return payload

    @property
    def dangerous(self) -> bool:
        """Replacing or deleting it loses data or an identity: called out at the top."""
        return self.action in ("replace", "delete") and (self.stateful or self.protected)


@dataclass
class StackDiff:
    """`status`: `changed`, `unchanged`, `created` (a new stack), `deleted` (a stack left
    without a bundle: nothing is applied, it must be destroyed deliberately)."""

    stack: str
    kind: str
    environment: str
    status: str
    resources: list[ResourceChange] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    cost: dict[str, Any] | None = None  # {"before", "after", "delta", "currency"} when estimated

    def of(self, action: str) -> list[ResourceChange]:
        return [r for r in self.resources if r.action == action]

    @property
    def dangerous(self) -> list[ResourceChange]:
        return [r for r in self.resources if r.dangerous]

    @property
    def refused(self) -> list[ResourceChange]:
        return [r for r in self.resources if r.refused]

    def counts(self) -> dict[str, int]:
        return {action: len(self.of(action)) for action in ("create", "delete", "replace", "update")}

    def summary(self) -> str:
        c = self.counts()
        if self.status == "deleted":
            text = f"whole stack deleted ({c['delete']} resources stay deployed until destroyed deliberately)"
        elif self.status == "unchanged" or not any(c.values()):
            text = "no changes"
        else:
            text = f"{c['create']} to add, {c['update']} to change, {c['replace']} to replace, {c['delete']} to delete"
            if self.status == "created":
                text = "new stack: " + text
        danger = self.dangerous
        if danger:
            text += f"; {len(danger)} stateful or protected resource(s) replaced or deleted"
        if self.refused:
            text += f"; {len(self.refused)} change(s) pulumi up will refuse"
        if self.cost and self.cost.get("delta") is not None:
            text += f"; cost {format_delta(self.cost['delta'])}/month"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "kind": self.kind,
            "environment": self.environment,
            "status": self.status,
            "summary": self.summary(),
            "counts": self.counts(),
            "dangerous": [r.urn for r in self.dangerous],
            "refused": [r.urn for r in self.refused],
            "resources": [r.as_dict() for r in self.resources],
            "notes": list(self.notes),
            "cost": self.cost,
        }


def format_delta(amount: float) -> str:
    sign = "+" if amount >= 0 else "-"
    return f"{sign}${abs(amount):,.2f}"


# --- property paths ------------------------------------------------------------------------------


def _is_named_pair(item: Any) -> bool:
    return isinstance(item, Mapping) and isinstance(item.get("name"), str) and "value" in item


def flatten(value: Any, path: str = "", secret: bool = False, *, mask: bool = True) -> Iterator[tuple[str, Any]]:
    """Leaves of a property value as (dotted path, value): lists of scalars stay one leaf, and
    (with `mask`) a value under a key that looks like a credential, or the value of a
    `{name: X_TOKEN, value: …}` pair, reads `[secret]`."""
    if isinstance(value, Mapping) and value:
        for key in sorted(value):
            child = f"{path}.{key}" if path else str(key)
            masked = secret or looks_secret(str(key))
            if key == "value" and isinstance(value.get("name"), str) and looks_secret(value["name"]):
                masked = True
            yield from flatten(value[key], child, masked, mask=mask)
    elif isinstance(value, list) and value and any(isinstance(v, Mapping | list) for v in value):
        for index, item in enumerate(value):
            named_secret = _is_named_pair(item) and looks_secret(item["name"])
            yield from flatten(item, f"{path}[{index}]", secret or named_secret, mask=mask)
    else:
        yield path, MASK if mask and secret and value not in (None, "", [], {}) else value


def _masked_inputs(resource: Mapping[str, Any]) -> dict[str, Any]:
    secret = set(resource.get("secretInputs", ())) | set(SECRET_DATA_TYPES.get(resource["type"], ()))
    inputs = resource.get("inputs") or {}
    return {key: (_mask_all(value) if key in secret else value) for key, value in inputs.items()}


def _mask_all(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _mask_all(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_all(v) for v in value]
    return MASK if value not in (None, "") else value


def property_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """(path, before, after) of every input leaf that differs, secrets masked, plus the options
    that change what a delete does."""
    old = dict(flatten(_masked_inputs(before)))
    new = dict(flatten(_masked_inputs(after)))
    found = [(path, old.get(path), new.get(path)) for path in sorted(old.keys() | new.keys())]
    changes = [(p, b, a) for p, b, a in found if b != a or (b == MASK and a == MASK and _raw_differs(before, after, p))]
    for option in OPTIONS_COMPARED:
        b = bool((before.get("options") or {}).get(option))
        a = bool((after.get("options") or {}).get(option))
        if a != b:
            changes.append((f"(option) {option}", b, a))
    return changes


def _raw_differs(before: Mapping[str, Any], after: Mapping[str, Any], path: str) -> bool:
    """A masked value changed: compare the raw leaves (never shown)."""
    raw_old = dict(flatten(before.get("inputs") or {}, mask=False))
    raw_new = dict(flatten(after.get("inputs") or {}, mask=False))
    return raw_old.get(path) != raw_new.get(path)


# --- the comparison ------------------------------------------------------------------------------


def _protected(resource: Mapping[str, Any]) -> bool:
    options = resource.get("options") or {}
    return bool(options.get("protect") or options.get("retainOnDelete"))


def _change(action: str, resource: Mapping[str, Any], **extra: Any) -> ResourceChange:
    return ResourceChange(
        action,
        resource["urn"],
        resource["type"],
        resource["name"],
        stateful=is_stateful(resource),
        protected=_protected(resource),
        **extra,
    )


def _pair_urn_changes(
    removed: list[Mapping[str, Any]], added: list[Mapping[str, Any]]
) -> list[tuple[Mapping[str, Any], Mapping[str, Any], str]]:
    """(old, new, reason) for resources whose URN changed but which are the same thing."""
    pairs = []
    free = list(added)
    for old in removed:
        match = next((new for new in free if new["type"] == old["type"] and new["name"] == old["name"]), None)
        reason = "URN changed: a new parent"
        if match is None and old.get("id"):
            match = next((new for new in free if new["type"] == old["type"] and new.get("id") == old["id"]), None)
            reason = f"URN changed: logical name {old['name']!r} → {match['name']!r}" if match else reason
        if match is not None:
            free.remove(match)
            pairs.append((old, match, reason))
    return pairs


def _replace_refused(previous: Mapping[str, Any], current: Mapping[str, Any]) -> str | None:
    return protected_refusal("replace", previous) or name_collision(previous, current)


def diff_resources(before: Sequence[Mapping[str, Any]], after: Sequence[Mapping[str, Any]]) -> list[ResourceChange]:
    old = {r["urn"]: r for r in before if r.get("custom")}
    new = {r["urn"]: r for r in after if r.get("custom")}
    removed = [old[u] for u in sorted(old.keys() - new.keys())]
    added = [new[u] for u in sorted(new.keys() - old.keys())]
    result: list[ResourceChange] = []
    for previous, current, reason in _pair_urn_changes(removed, added):
        removed.remove(previous)
        added.remove(current)
        changes = tuple(PropertyChange(p, b, a) for p, b, a in property_changes(previous, current))
        result.append(
            _change(
                "replace",
                current,
                changes=changes,
                reasons=(reason,),
                previous_urn=previous["urn"],
                refused=_replace_refused(previous, current),
            )
        )
    for urn in sorted(old.keys() & new.keys()):
        changes_found = property_changes(old[urn], new[urn])
        if not changes_found:
            continue
        options = new[urn].get("options") or {}
        forcing = set(
            replacing_paths(new[urn]["type"], [p for p, _, _ in changes_found], options.get("replaceOnChanges", ()))
        )
        changes = tuple(PropertyChange(p, b, a, p in forcing) for p, b, a in changes_found)
        if forcing:
            reasons = tuple(
                f"{path} forces a replacement of {new[urn]['type'].rsplit(':', 1)[-1]}" for path in sorted(forcing)
            )
            refused = _replace_refused(old[urn], new[urn])
            result.append(_change("replace", new[urn], changes=changes, reasons=reasons, refused=refused))
        else:
            refused = refused_update(new[urn]["type"], old[urn].get("inputs") or {}, new[urn].get("inputs") or {})
            result.append(_change("update", new[urn], changes=changes, refused=refused))
    result += [_change("create", r) for r in added]
    result += [_change("delete", r, refused=protected_refusal("delete", r)) for r in removed]
    order = {"replace": 0, "delete": 1, "create": 2, "update": 3}
    return sorted(result, key=lambda r: (order[r.action], r.urn))


def diff_stack(
    stack: str,
    kind: str,
    environment: str,
    before: Sequence[Mapping[str, Any]] | None,
    after: Sequence[Mapping[str, Any]] | None,
) -> StackDiff:
    """`before` None: a new stack; `after` None: a stack left without a bundle."""
    if after is None:
        # Nothing is applied to a stack without a bundle: its destroy is a deliberate step whose
        # note says how to unprotect, so no delete is reported as refused.
        resources = [replace(r, refused=None) for r in diff_resources(before or [], [])]
        return StackDiff(stack, kind, environment, "deleted", resources)
    resources = diff_resources(before or [], after)
    status = "created" if before is None else ("changed" if resources else "unchanged")
    return StackDiff(stack, kind, environment, status, resources)
