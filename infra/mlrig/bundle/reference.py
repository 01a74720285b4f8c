"""The bundle reference (`docs/bundle-reference.md`), rendered from the JSON Schema.

Every field of both kinds, with its path, type, default, description and example, so the
reference can never disagree with what `mlrig validate` accepts. `mlrig generate` writes it and a
test fails when the committed file is stale.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .model import PATTERN_HINTS
from .schema import bundle_schema


@dataclass(frozen=True)
class FieldDoc:
    path: str
    type: str
    default: str
    description: str
    example: str


class _Walker:
    def __init__(self, schema: dict[str, Any]):
        self.defs: dict[str, Any] = schema["$defs"]
        self.expanded: dict[str, str] = {}  # definition -> the path where its fields are listed

    def resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = self.defs[node["$ref"].rsplit("/", 1)[-1]]
        return node

    def non_null(self, node: dict[str, Any]) -> dict[str, Any]:
        """The schema of a value, looking through `X | null` and references."""
        options = [o for o in node.get("anyOf", []) if o.get("type") != "null"]
        if len(options) == 1:
            return self.resolve(options[0])
        return self.resolve(node)

    def type_of(self, node: dict[str, Any]) -> str:
        node = self.resolve(node)
        if "const" in node:
            return f"`{node['const']}`"
        if "enum" in node:
            return " \\| ".join(f"`{v}`" for v in node["enum"])
        if "anyOf" in node:
            return " or ".join(dict.fromkeys(self.type_of(o) for o in node["anyOf"]))
        kind = node.get("type", "any")
        if kind == "array":
            return f"list of {self.type_of(node.get('items', {}))}"
        if kind == "object":
            values = self.map_values(node)
            if values is not None and not node.get("properties"):
                return f"map of {self.type_of(values)}"
            return "object"
        if kind == "null":
            return "null"
        return kind + self.constraints(node)

    @staticmethod
    def constraints(node: dict[str, Any]) -> str:
        low = node.get("minimum", node.get("exclusiveMinimum"))
        high = node.get("maximum", node.get("exclusiveMaximum"))
        if low is not None and high is not None:
            if "minimum" in node and "maximum" in node:
                return f", {low}–{high}"
            above = f"≥ {low}" if "minimum" in node else f"> {low}"  # 0–1 would admit the excluded end
            below = f"≤ {high}" if "maximum" in node else f"< {high}"
            return f", {above} and {below}"
        if low is not None:
            return f", ≥ {low}" if "minimum" in node else f", > {low}"
        if high is not None:
            return f", ≤ {high}"
        if "pattern" in node and node["pattern"] in PATTERN_HINTS:
            return f" ({PATTERN_HINTS[node['pattern']]})"
        return ""

    def map_values(self, node: dict[str, Any]) -> dict[str, Any] | None:
        if isinstance(node.get("additionalProperties"), dict):
            values: dict[str, Any] = node["additionalProperties"]
            return values
        if node.get("patternProperties"):
            first: dict[str, Any] = next(iter(node["patternProperties"].values()))
            return first
        return None

    def fields(self, definition: str, prefix: str) -> Iterator[FieldDoc]:
        node = self.defs[definition]
        required = set(node.get("required", []))
        for name, prop in node.get("properties", {}).items():
            yield from self.field(f"{prefix}{name}", prop, name in required)

    def ref_name(self, node: dict[str, Any]) -> str | None:
        """The definition a property's objects come from (through null, lists and maps)."""
        for option in [node, *node.get("anyOf", [])]:
            for candidate in (option, option.get("items", {}), option.get("additionalProperties")):
                if isinstance(candidate, dict) and "$ref" in candidate:
                    name: str = candidate["$ref"].rsplit("/", 1)[-1]
                    return name
        return None

    def field(self, path: str, prop: dict[str, Any], is_required: bool) -> Iterator[FieldDoc]:
        description = _one_line(prop.get("description", ""))
        ref = self.ref_name(prop)
        repeated = ref is not None and ref in self.expanded
        if repeated and ref is not None:
            description += f" Fields as in `{self.expanded[ref]}`."
        yield FieldDoc(
            path=f"`{path}`",
            type=self.type_of(prop),
            default="**required**" if is_required else _code(prop.get("default")),
            description=description,
            example=_code(prop["examples"][0]) if prop.get("examples") else "",
        )
        if repeated or (ref or "").startswith("Partial"):
            return  # documented once; project overrides are documented in prose
        if ref is not None:
            self.expanded[ref] = path
        value = self.non_null(prop)
        if value.get("properties"):
            yield from self.children(value, f"{path}.")
        elif value.get("type") == "array":
            items = self.resolve(value.get("items", {}))
            if items.get("properties"):
                yield from self.children(items, f"{path}[].")
        elif value.get("type") == "object":
            values = self.map_values(value)
            if values is not None and self.resolve(values).get("properties"):
                yield from self.children(self.resolve(values), f"{path}.<{_key_name(path)}>.")

    def children(self, node: dict[str, Any], prefix: str) -> Iterator[FieldDoc]:
        required = set(node.get("required", []))
        for name, prop in node.get("properties", {}).items():
            yield from self.field(f"{prefix}{name}", prop, name in required)


def _key_name(path: str) -> str:
    last = path.rsplit(".", 1)[-1]
    return {"environments": "environment", "pipelines": "pipeline", "limits": "provider"}.get(last, "name")


def _code(value: Any) -> str:
    if value is None:
        return "`null`"
    text = json.dumps(value, separators=(", ", ": "), ensure_ascii=False)
    return f"`{text}`".replace("|", "\\|")


def _one_line(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def field_docs(kind: str) -> list[FieldDoc]:
    """Every field of a bundle of `kind` (Platform or Project), in schema order."""
    walker = _Walker(bundle_schema())
    return list(walker.fields(f"{kind}Bundle", ""))


_INTRO = """\
# Bundle reference (mlrig/v1)

<!-- Generated from schemas/bundle.schema.json by mlrig.bundle.reference; do not edit by hand. -->

Every field of the two bundle kinds, generated from the JSON Schema that `mlrig validate` and
editors use. A path like `spec.compute.pools[].max` is a field of each item of a list;
`spec.pipelines.<pipeline>.type` is a field of each entry of a map. Fields that are not
**required** may be left out: the default applies (`null` defaults are derived from other
fields, as the description says).

Add the modeline below to the top of a bundle for completion, hover and validation in editors
that use yaml-language-server (VS Code YAML, Neovim, JetBrains):

```yaml
# yaml-language-server: $schema=../schemas/bundle.schema.json
```
"""

_OVERRIDES = """\
### Per-environment overrides (`spec.environments.<environment>`)

Each key of `spec.environments` names an environment of the project's platform; its value holds
any fields of `spec` above except `platform`, `repository` and `environments`, and is merged over
`spec` for that environment only:

- maps merge key by key (`storage: {stagingRetentionDays: 3}` keeps `prodReadAccessFromDev`);
- lists of named items (`compute.pools`, `serving.endpoints`, `monitoring.quality`) merge item by
  item on `name`: an item with a known name updates that item, a new name adds an item;
- every other value, lists included (`registries`, `monitoring.alerts`), is replaced.
"""


def _table(rows: list[FieldDoc]) -> str:
    lines = ["| Field | Type | Default | Description | Example |", "|---|---|---|---|---|"]
    lines += [f"| {r.path} | {r.type} | {r.default} | {r.description} | {r.example} |" for r in rows]
    return "\n".join(lines) + "\n"


def render_reference_markdown() -> str:
    """The whole reference as Markdown (the content of `docs/bundle-reference.md`)."""
    parts = [
        _INTRO,
        "## Platform\n\nOne per organisation: environments, isolation, state, GitHub and the clusters.\n",
        _table(field_docs("Platform")),
        "## Project\n\nOne per ML team or project: access, storage, registries, compute, pipelines, "
        "serving, monitoring, LLMOps and CI.\n",
        _table(field_docs("Project")),
        _OVERRIDES,
    ]
    return "\n".join(parts)
