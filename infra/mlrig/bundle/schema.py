"""The published JSON Schema (2020-12), generated from the typed model so the two cannot drift.

`schemas/bundle.schema.json` is this function's output; `mlrig generate` rewrites it and
`mlrig generate --check` (and a test) fail when the committed file is stale.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from typing import Any

from pydantic.json_schema import models_json_schema

from .model import PlatformBundle, ProjectBundle, ProjectSpecBase

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _partial_defs(defs: dict[str, Any], root: str) -> str:
    """Add `Partial<root>` (and what it references) to defs: nothing required but item names,
    no defaults (an absent key in an override inherits the base value). Returns the def name."""

    def convert(name: str) -> str:
        partial = f"Partial{name}"
        if partial in defs:
            return partial
        defs[partial] = {}  # placeholder against cycles
        node = copy.deepcopy(defs[name])
        defs[partial] = rewrite(node, top=True)
        return partial

    def rewrite(node: Any, top: bool = False) -> Any:
        if isinstance(node, dict):
            out: dict[str, Any] = {}
            for key, value in node.items():
                if key == "$ref" and isinstance(value, str) and value.startswith("#/$defs/"):
                    out[key] = "#/$defs/" + convert(value.rsplit("/", 1)[-1])
                elif key == "default":
                    continue
                elif key == "required" and top:
                    kept = [r for r in value if r == "name"]
                    if kept:
                        out[key] = kept
                else:
                    out[key] = rewrite(value)
            return out
        if isinstance(node, list):
            return [rewrite(item) for item in node]
        return node

    return convert(root)


_NAMED_CONTAINERS = ("properties", "patternProperties", "$defs")


def _without_titles(node: Any) -> Any:
    """Drop pydantic's automatic titles ("Instance Types"): editors show the key and the
    description, and the titles only add noise. Keys named `title` inside `properties` stay."""
    if isinstance(node, dict):
        return {
            key: (
                {name: _without_titles(sub) for name, sub in value.items()}
                if key in _NAMED_CONTAINERS
                else _without_titles(value)
            )
            for key, value in node.items()
            if key != "title"
        }
    if isinstance(node, list):
        return [_without_titles(item) for item in node]
    return node


@cache
def _bundle_schema() -> str:
    _, top = models_json_schema(
        [(PlatformBundle, "validation"), (ProjectBundle, "validation"), (ProjectSpecBase, "validation")],
        by_alias=True,
        ref_template="#/$defs/{model}",
    )
    defs: dict[str, Any] = _without_titles(top["$defs"])
    override = _partial_defs(defs, "ProjectSpecBase")
    envs = defs["ProjectSpec"]["properties"]["environments"]
    # Overrides are checked by the partial spec; pydantic's generic patternProperties for
    # `dict[DnsName, dict]` would take precedence over additionalProperties and accept anything.
    envs.pop("patternProperties", None)
    envs["additionalProperties"] = {"$ref": f"#/$defs/{override}"}
    envs["propertyNames"] = {"pattern": r"^[a-z]([a-z0-9-]*[a-z0-9])?$"}
    del defs["ProjectSpecBase"]
    schema: dict[str, Any] = {
        "$schema": SCHEMA_DIALECT,
        "$id": "https://github.com/mlrig/mlrig/schemas/bundle.schema.json",
        "title": "mlrig bundle (mlrig/v1)",
        "description": (
            "A Platform bundle (one per organisation) or a Project bundle (one per ML team). "
            "Add `# yaml-language-server: $schema=../schemas/bundle.schema.json` to a bundle "
            "for completion and hover in editors."
        ),
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": "mlrig/v1", "description": "Bundle format version.", "examples": ["mlrig/v1"]},
            "kind": {
                "enum": ["Platform", "Project"],
                "description": "`Platform` (one per organisation) or `Project` (one per team).",
                "examples": ["Project"],
            },
        },
        "allOf": [
            {
                "if": {"properties": {"kind": {"const": kind}}, "required": ["kind"]},
                "then": {"$ref": f"#/$defs/{kind}Bundle"},
            }
            for kind in ("Platform", "Project")
        ],
        "$defs": dict(sorted(defs.items())),
    }
    return json.dumps(schema, indent=2, sort_keys=False) + "\n"


def bundle_schema() -> dict[str, Any]:
    """A fresh copy of the schema as data."""
    result: dict[str, Any] = json.loads(_bundle_schema())
    return result


def bundle_schema_text() -> str:
    """The schema exactly as committed to `schemas/bundle.schema.json`."""
    return _bundle_schema()
