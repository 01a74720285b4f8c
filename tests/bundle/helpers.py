"""Building, mutating and validating bundles in tests, without touching the disk."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml

from mlrig import examples
from mlrig.bundle.diagnostics import Diagnostic
from mlrig.bundle.loader import load_text
from mlrig.bundle.validate import ValidationResult, validate_documents

ROOT = Path(__file__).resolve().parents[2]
BUNDLES = examples.DIRECTORY  # the shipped examples, never the repository's live bundles/
EXAMPLE_FILES = {"platform": "platform.yaml", "fraud": "fraud-detection.yaml", "rag": "rag-assistant.yaml"}
# The smallest platform and project a repository can hold: every optional field left out.
TINY_PLATFORM = """\
apiVersion: mlrig/v1
kind: Platform
metadata: { name: tiny, owners: ["@tiny/ops"] }
spec:
  isolation: cluster
  github: { organization: tiny }
  tenancy: { projects: { scorer: { repository: tiny/scorer, prodApprovers: ["@tiny/leads"] } } }
  environments:
    dev: { tier: dev, region: eu-west-1 }
    live: { tier: prod, region: eu-west-1 }
"""
TINY_PROJECT = """\
apiVersion: mlrig/v1
kind: Project
metadata: { name: scorer }
spec: { platform: tiny, repository: tiny/scorer }
"""


def example(name: str) -> dict[str, Any]:
    """A fresh copy of an example bundle's data: `platform`, `fraud` or `rag`."""
    return _examples()[name]


_CACHE: dict[str, dict[str, Any]] = {}


def _examples() -> dict[str, dict[str, Any]]:
    if not _CACHE:
        for key, file in EXAMPLE_FILES.items():
            _CACHE[key] = yaml.safe_load((BUNDLES / file).read_text(encoding="utf-8"))
    return copy.deepcopy(_CACHE)


def minimal_platform(name: str = "acme-ml", **spec: Any) -> dict[str, Any]:
    """A Platform bundle holding only the required fields (plus `spec` overrides)."""
    return {
        "apiVersion": "mlrig/v1",
        "kind": "Platform",
        "metadata": {"name": name},
        "spec": {"environments": {"dev": {"tier": "dev", "region": "us-east-1"}}, **spec},
    }


def minimal_project(name: str = "churn", platform: str = "acme-ml", **spec: Any) -> dict[str, Any]:
    """A Project bundle holding only the required fields (plus `spec` overrides)."""
    return {
        "apiVersion": "mlrig/v1",
        "kind": "Project",
        "metadata": {"name": name},
        "spec": {"platform": platform, "repository": f"acme/{name}", **spec},
    }


def admitting(platform: dict[str, Any], *projects: dict[str, Any], approvers: tuple[str, ...] = ()) -> dict[str, Any]:
    """The platform with `projects` admitted exactly as they ask: their repository, every
    principal they name (overrides included) and their prod approvers (or `approvers`, else
    `@acme/leads`), the fields only the platform team may grant."""
    admissions = platform["spec"].setdefault("tenancy", {}).setdefault("projects", {})
    for project in projects:
        spec = project["spec"]
        principals: list[str] = []
        for access in [spec.get("access", {}), *(o.get("access", {}) for o in spec.get("environments", {}).values())]:
            for persona in access.values():
                principals += [p for p in persona if p not in principals]
        requested = spec.get("ci", {}).get("prodApprovers", [])
        admissions[project["metadata"]["name"]] = {
            "repository": spec["repository"],
            "principals": principals,
            "prodApprovers": list(requested or approvers or ("@acme/leads",)),
        }
        reservations = _reservations(spec)
        if reservations:
            admissions[project["metadata"]["name"]]["capacityReservations"] = reservations
    return platform


def _reservations(spec: dict[str, Any]) -> list[str]:
    """Capacity reservations a project's pools name (spec and overrides): the platform's to admit."""
    found: list[str] = []
    computes = [spec.get("compute", {}), *(o.get("compute", {}) for o in spec.get("environments", {}).values())]
    for compute in computes:
        for pool in compute.get("pools", []) if isinstance(compute, dict) else []:
            for reservation in (pool.get("reservations") or {}).get("ids", []):
                if reservation not in found:
                    found.append(reservation)
    return found


def dump(document: dict[str, Any]) -> str:
    return yaml.safe_dump(document, sort_keys=False, default_flow_style=False)


def file_names(documents: tuple[dict[str, Any] | str, ...]) -> list[str]:
    """`<metadata.name>.yaml` for each document (as the file-name rule wants), in a directory of
    its own when two documents share a name; `<index>.yaml` for documents without a name."""
    names: list[str] = []
    for i, doc in enumerate(documents):
        try:
            data = yaml.safe_load(doc) if isinstance(doc, str) else doc
        except yaml.YAMLError:
            data = None
        metadata = data.get("metadata") if isinstance(data, dict) else None
        name = metadata.get("name") if isinstance(metadata, dict) else None
        file = f"{name}.yaml" if isinstance(name, str) and re.fullmatch(r"[a-z0-9-]+", name) else f"{i}.yaml"
        names.append(f"{i}/{file}" if file in names else file)
    return names


def validate(*documents: dict[str, Any] | str, files: list[str] | None = None) -> ValidationResult:
    """Validate documents (data or YAML text) as one bundle set; files are named after each
    bundle (`<metadata.name>.yaml`) unless `files` names them."""
    names = files or file_names(documents)
    loaded = [
        load_text(doc if isinstance(doc, str) else dump(doc), name) for doc, name in zip(documents, names, strict=True)
    ]
    return validate_documents(loaded)


def with_examples(*documents: dict[str, Any], replace: str | None = None) -> ValidationResult:
    """Validate documents beside the example bundles (`replace` drops one example: platform, fraud, rag)."""
    examples = {k: v for k, v in _examples().items() if k != replace}
    return validate(*examples.values(), *documents)


def errors(result: ValidationResult, rule: str | None = None) -> list[Diagnostic]:
    return [d for d in result.diagnostics if rule is None or d.rule == rule]


def paths(result: ValidationResult, rule: str | None = None) -> list[str]:
    return [d.path for d in errors(result, rule)]


def explain(result: ValidationResult) -> str:
    return "\n".join(d.text() + f"  [{d.rule}]" for d in result.diagnostics) or "(no errors)"


_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def parse_path(path: str) -> list[str | int]:
    """`spec.compute.pools[0].max` → ["spec", "compute", "pools", 0, "max"]."""
    return [int(index) if index else key for key, index in _PART.findall(path)]


def set_path(document: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """Set a value at a dotted path, creating mappings on the way; returns the document."""
    parts = parse_path(path)
    node: Any = document
    for part in parts[:-1]:
        if isinstance(part, str) and part not in node:
            node[part] = {}
        node = node[part]
    last = parts[-1]
    if isinstance(node, list) and last == len(node):
        node.append(value)
    else:
        node[last] = value
    return document


def delete_path(document: dict[str, Any], path: str) -> dict[str, Any]:
    parts = parse_path(path)
    node: Any = document
    for part in parts[:-1]:
        node = node[part]
    del node[parts[-1]]
    return document


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based line of the n-th line containing `needle`."""
    hits = [i + 1 for i, line in enumerate(text.splitlines()) if needle in line]
    return hits[occurrence - 1]


def project_with(changes: dict[str, Any], base: str = "fraud", deletions: tuple[str, ...] = ()) -> dict[str, Any]:
    """An example project with values set at dotted paths (and some paths deleted)."""
    document = example(base)
    for path in deletions:
        delete_path(document, path)
    for path, value in changes.items():
        set_path(document, path, value)
    return document


def platform_with(changes: dict[str, Any], deletions: tuple[str, ...] = ()) -> dict[str, Any]:
    document = example("platform")
    for path in deletions:
        delete_path(document, path)
    for path, value in changes.items():
        set_path(document, path, value)
    return document


def check_project(changes: dict[str, Any], base: str = "fraud", deletions: tuple[str, ...] = ()) -> ValidationResult:
    """Validate a changed example project beside the example platform."""
    return validate(example("platform"), project_with(changes, base, deletions))


def check_admitted(
    changes: dict[str, Any],
    base: str = "fraud",
    deletions: tuple[str, ...] = (),
    platform_changes: dict[str, Any] | None = None,
) -> ValidationResult:
    """Like `check_project`, with the changed project admitted by the platform as it asks (and the
    platform changed at dotted paths)."""
    project = project_with(changes, base, deletions)
    platform = admitting(example("platform"), project)
    for path, value in (platform_changes or {}).items():
        set_path(platform, path, value)
    return validate(platform, project)


def check_platform(changes: dict[str, Any], deletions: tuple[str, ...] = ()) -> ValidationResult:
    return validate(platform_with(changes, deletions))


def only(result: ValidationResult, rule: str) -> Diagnostic:
    """The single error of a result, which must come from `rule`."""
    assert len(result.diagnostics) == 1, explain(result)
    [error] = result.diagnostics
    assert error.rule == rule, explain(result)
    return error


def paths_of(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path inside a document (mapping keys and list indexes), for mutation tests."""
    found = [path] if path else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += paths_of(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += paths_of(value, (*path, i))
    return found
