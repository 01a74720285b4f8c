"""Turns pydantic validation errors into messages a bundle author can act on."""

from __future__ import annotations

import json
import re
import unicodedata
from functools import cache
from typing import Any

from pydantic_core import ErrorDetails

from .diagnostics import Path, closest, did_you_mean
from .model import PATTERN_HINTS


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _show(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)  # as YAML writes it: true, false, null
    text = repr(value) if not isinstance(value, (dict, list)) else _type_name(value)
    return text if len(text) <= 60 else text[:57] + "..."


_EXPECTED = {
    "string_type": "a string",
    "int_type": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}


@cache
def _schema_root() -> dict[str, Any]:
    from .schema import bundle_schema

    return bundle_schema()


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    root = _schema_root()
    seen = 0
    while "$ref" in node and seen < 20:
        node = root["$defs"][node["$ref"].rsplit("/", 1)[-1]]
        seen += 1
    return node


def _object_branch(node: dict[str, Any]) -> dict[str, Any] | None:
    node = _resolve(node)
    if node.get("type") == "object" or "properties" in node or "additionalProperties" in node:
        return node
    for key in ("anyOf", "oneOf", "allOf"):
        for option in node.get(key, []):
            found = _object_branch(option)
            if found is not None:
                return found
    return None


def _array_branch(node: dict[str, Any]) -> dict[str, Any] | None:
    node = _resolve(node)
    if node.get("type") == "array":
        return node
    for option in node.get("anyOf", []):
        found = _array_branch(option)
        if found is not None:
            return found
    return None


def schema_at(kind: str, path: Path) -> dict[str, Any] | None:
    """The JSON schema node describing `path` in a bundle of `kind`."""
    root = _schema_root()
    node: dict[str, Any] | None = root["$defs"].get(f"{kind}Bundle")
    for part in path:
        if node is None:
            return None
        if isinstance(part, int):
            array = _array_branch(node)
            node = array.get("items") if array else None
            continue
        obj = _object_branch(node)
        if obj is None:
            return None
        props = obj.get("properties", {})
        if part in props:
            node = props[part]
        elif isinstance(obj.get("additionalProperties"), dict):
            node = obj["additionalProperties"]
        elif obj.get("patternProperties"):
            node = next(iter(obj["patternProperties"].values()))
        else:
            return None
    return _resolve(node) if node is not None else None


def allowed_keys(kind: str, path: Path) -> list[str]:
    node = schema_at(kind, path)
    obj = _object_branch(node) if node else None
    return list(obj.get("properties", {})) if obj else []


_VALIDATOR_LABELS = ("function-after", "function-before")
# The labels pydantic gives the members of a union of scalars (`str | int | float | bool`):
# never keys of a bundle (a key in the data is always kept, whatever it looks like).
_UNION_MEMBER_LABELS = ("str", "int", "float", "bool", "constrained-str", "constrained-int", "constrained-float")


def _real_location(loc: tuple[str | int, ...], data: Any) -> Path:
    """The error location without the labels pydantic adds for union branches (`list[str]`,
    `function-after[...]`). A part that is a key of the data at that point is always a real key,
    even when it looks like a label (a hostile key `a[0]`)."""
    parts: list[str | int] = []
    node, inside = data, data is not None
    for part in loc:
        if inside and isinstance(node, dict) and isinstance(part, str) and part in node:
            parts.append(part)
            node = node[part]
            continue
        if inside and isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            parts.append(part)
            node = node[part]
            continue
        inside = False
        if part in _VALIDATOR_LABELS or part in _UNION_MEMBER_LABELS:
            continue
        if isinstance(part, str) and "[" in part and part.endswith("]") and part != "[key]":
            continue
        parts.append(part)
    return tuple(parts)


def describe_all(
    kind: str, errors: list[ErrorDetails], prefix: Path = (), data: Any = None
) -> list[tuple[Path, str, bool]]:
    """`describe` for every error, one per cause: a required key written misspelt (`teir: dev`)
    is one unknown key with its did-you-mean, not that plus the missing key it meant; a value
    that fits no member of a union is one error, not one per member."""
    described = [(describe(kind, error, prefix, data), error) for error in errors]
    misspelt = {
        (*path[:-1], meant)
        for (path, _, _), error in described
        if error["type"] == "extra_forbidden"
        for meant in [closest(str(path[-1]), allowed_keys(kind, path[:-1]))]
        if meant is not None
    }
    kept = [(d, error) for d, error in described if error["type"] != "missing" or d[0] not in misspelt]
    # A non-finite number in a union (`str | int | float | bool`) is one error: it is a number
    # the float member refuses, not a value of the wrong type for every member.
    non_finite = {d[0] for d, error in kept if error["type"] == "finite_number"}
    kept = [(d, error) for d, error in kept if not (d[0] in non_finite and error["type"] in _EXPECTED)]
    return _one_per_union(kept)


def _one_per_union(described: list[tuple[tuple[Path, str, bool], ErrorDetails]]) -> list[tuple[Path, str, bool]]:
    """The type errors of one value against each member of a union (`str | int | float | bool`)
    as one error: "expected a string, an integer, a number or true or false, got a mapping"."""
    expected: dict[Path, list[str]] = {}
    for (path, _, _), error in described:
        if error["type"] in _EXPECTED:
            expected.setdefault(path, []).append(_EXPECTED[error["type"]])
    merged: list[tuple[Path, str, bool]] = []
    done: set[Path] = set()
    for (path, message, at_key), error in described:
        if len(expected.get(path, [])) < 2 or error["type"] not in _EXPECTED:
            merged.append((path, message, at_key))
        elif path not in done:
            done.add(path)
            options = list(dict.fromkeys(expected[path]))
            value = error.get("input")
            shown = "" if value is None or isinstance(value, (dict, list)) else f" {_show(value)}"
            got = f"got {_type_name(value)}{shown}"
            merged.append((path, f"expected {', '.join(options[:-1])} or {options[-1]}, {got}", at_key))
    return merged


def describe(kind: str, error: ErrorDetails, prefix: Path = (), data: Any = None) -> tuple[Path, str, bool]:
    """(path, message, points_at_key) for one pydantic error; `prefix` is where the validated
    value sits in a bundle of `kind` (errors of a merged override validate only the spec), and
    `data` the validated value itself, which tells real keys from pydantic's labels."""
    loc = (*prefix, *_real_location(tuple(error["loc"]), data))
    kind_ = error["type"]
    value = error.get("input")
    ctx = error.get("ctx") or {}
    if loc and loc[-1] == "[key]":
        path = loc[:-1]
        key = path[-1] if path else value
        return path, f"invalid key {_show(key)}: {_key_message(kind_, ctx, value)}{non_ascii_hint(key)}", True
    if kind_ == "extra_forbidden":
        key = str(loc[-1])
        allowed = allowed_keys(kind, loc[:-1])
        hint = did_you_mean(key, allowed) or did_you_mean(_ascii_only(key), allowed)
        tail = hint or (f"; allowed keys: {', '.join(allowed)}" if allowed else "")
        return loc, f"unknown key {_show(key)}{tail}{non_ascii_hint(key)}", True
    if kind_ == "missing":
        return loc, f"missing required key '{loc[-1]}'{_missing_hint(kind, loc)}", True
    if kind_ in ("literal_error", "enum"):
        expected = ctx.get("expected", "")
        options = [o.strip().strip("'") for o in expected.replace(" or ", ",").split(",") if o.strip()]
        hint = did_you_mean(str(value), options) if isinstance(value, str) else ""
        return loc, f"{_show(value)} is not allowed; use one of {expected}{hint}", False
    if kind_ == "string_pattern_mismatch":
        pattern = ctx.get("pattern", "")
        expected = PATTERN_HINTS.get(pattern, f"a value matching {pattern}")
        hint = _memory_hint(value) if "memory quantity" in expected else ""
        hint += _session_arn_hint(value) if "role ARN" in expected else ""
        if isinstance(value, str) and value != value.strip():
            hint += "; it starts or ends with a space: remove it"
        return loc, f"{_show(value)} is not {expected}{hint}{non_ascii_hint(value)}", False
    if kind_ in _EXPECTED:
        shown = "" if value is None or isinstance(value, (dict, list)) else f" {_show(value)}"
        message = f"expected {_EXPECTED[kind_]}, got {_type_name(value)}{shown}"
        if kind_ == "string_type" and isinstance(value, bool):
            message += (
                "; quote it to make it a string (YAML reads unquoted yes, no, on, off, true and false as booleans)"
            )
        elif kind_ == "string_type" and isinstance(value, float):
            message += "; quote it to make it a string (YAML reads unquoted 3.10 as the number 3.1)"
        elif kind_ == "string_type" and isinstance(value, int):
            message += "; quote it to make it a string"
        if kind_ in ("dict_type", "model_type", "model_attributes_type") and not isinstance(value, (dict, list)):
            message += _example_hint(kind, loc)
        if kind_ in ("int_type", "float_type") and isinstance(value, str):
            message += _number_hint(value)
        if kind_ == "list_type" and isinstance(value, str):
            message += _list_hint(value)
        return loc, message, False
    if kind_ in ("too_short", "too_long"):
        limit = ctx.get("min_length" if kind_ == "too_short" else "max_length")
        word = "at least" if kind_ == "too_short" else "at most"
        if isinstance(value, dict):
            return (
                loc,
                f"needs {word} {limit} entry(ies){_example_hint(kind, loc) if kind_ == 'too_short' else ''}",
                False,
            )
        return loc, f"needs {word} {limit} item(s)", False
    if kind_ in ("string_too_short", "string_too_long"):
        limit = ctx.get("min_length" if kind_ == "string_too_short" else "max_length")
        word = "at least" if kind_ == "string_too_short" else "at most"
        return loc, f"{_show(value)} must be {word} {limit} characters long", False
    comparisons = {
        "greater_than_equal": ("ge", "at least"),
        "greater_than": ("gt", "greater than"),
        "less_than_equal": ("le", "at most"),
        "less_than": ("lt", "less than"),
    }
    if kind_ in comparisons:
        key, words = comparisons[kind_]
        return loc, f"{_show(value)} must be {words} {ctx.get(key)}", False
    if kind_ == "finite_number":
        return loc, _non_finite_message(value), False
    if kind_ in ("int_from_float",):
        return loc, f"expected an integer, got {_show(value)}", False
    return loc, error["msg"], False


def _non_finite_message(value: Any) -> str:
    """`.nan`, `.inf` or a number too large for a float: YAML numbers no field means."""
    if isinstance(value, float) and value != value:
        got = "not-a-number (.nan)"
    else:
        sign = "-" if isinstance(value, float) and value < 0 else ""
        got = f"{sign}infinity ({sign}.inf, or a number too large for a float such as 1e400)"
    return f"expected a finite number, got {got}: no threshold, budget or parameter means it; write the number itself"


def _ascii_only(text: str) -> str:
    return "".join(c for c in text if c.isascii() and not c.isspace())


def non_ascii_hint(value: Any) -> str:
    """Names the first character that is not ASCII: keys and names are ASCII, and a character
    that looks like a space or a Latin letter (a no-break space, a Cyrillic 'а') is invisible in
    the message otherwise."""
    if not isinstance(value, str) or value.isascii():
        return ""
    index, char = next((i, c) for i, c in enumerate(value) if not c.isascii())
    name = unicodedata.name(char, "unnamed").lower()
    return f"; character {index + 1} is U+{ord(char):04X} ({name}), not ASCII: retype it"


_MEMORY_WITH_OTHER_UNIT = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*([kmgt])i?b?", re.IGNORECASE)


def _memory_hint(value: Any) -> str:
    """`8GB`, `16gi`, `512 MB`: the Kubernetes spelling of what was meant (binary units)."""
    found = _MEMORY_WITH_OTHER_UNIT.fullmatch(value.strip()) if isinstance(value, str) else None
    if found is None:
        return ""
    return f" (did you mean '{found.group(1)}{found.group(2).upper()}i'? units are case-sensitive)"


_SESSION_ARN = re.compile(r"arn:(aws[a-z-]*):sts::([0-9]{12}):assumed-role/([^/]+)/.*")


def _session_arn_hint(value: Any) -> str:
    """A session ARN, as `aws sts get-caller-identity` prints it, names the role it came from."""
    found = _SESSION_ARN.fullmatch(value) if isinstance(value, str) else None
    if found is None:
        return ""
    partition, account, role = found.groups()
    return (
        f"; it is a session of a role, as `aws sts get-caller-identity` prints it: name the role, "
        f"'arn:{partition}:iam::{account}:role/{role}'"
    )


def _list_hint(text: str) -> str:
    """What to do with text written where a list goes."""
    if text.startswith("-"):
        return "; a list item needs a space after its dash (`- item`)"
    items = [item.strip() for item in text.split(",")] if ", " in text else [text]
    shown = ", ".join(json.dumps(item) if item[:1] in "@`*&!%|>'\"" else item for item in items)
    return f"; write a list, even of one item: [{shown}]"


_NUMBER = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_NUMBER_WITH_UNIT = re.compile(r"([-+]?[0-9]+(?:\.[0-9]+)?)\s*([A-Za-z%]+)")


def _number_hint(text: str) -> str:
    """What to do with text written where a number goes: a quoted number loses its quotes, a
    number with a unit (`200Gi`, `10%`) loses its unit; anything else gets no guess."""
    if _NUMBER.fullmatch(text.strip()):
        return "; remove the quotes"
    with_unit = _NUMBER_WITH_UNIT.fullmatch(text.strip())
    if with_unit:
        return f"; write the number alone ({with_unit.group(1)}): the field's unit is in its name or description"
    return ""


def _example_hint(kind: str, loc: Path) -> str:
    """`; for example {...}` from the schema's example of the field at `loc`, if it has one."""
    examples = (schema_at(kind, loc) or {}).get("examples") or _property_examples(kind, loc)
    return f"; for example {json.dumps(examples[0])}" if examples else ""


def _property_examples(kind: str, loc: Path) -> list[Any]:
    """The examples written beside a property that refers to a shared definition (`$ref`)."""
    parent = schema_at(kind, loc[:-1]) if loc else None
    obj = _object_branch(parent) if parent else None
    node = obj.get("properties", {}).get(loc[-1]) if obj and isinstance(loc[-1], str) else None
    return list(node.get("examples", [])) if isinstance(node, dict) else []


def _missing_hint(kind: str, loc: Path) -> str:
    """What a missing key may hold: its allowed values, or an example."""
    node = schema_at(kind, loc)
    if not node:
        return ""
    values = node.get("enum")
    if values:
        return "; use one of " + ", ".join(repr(v) for v in values)
    examples = node.get("examples")
    if examples and isinstance(examples[0], str | int | float):
        return f"; for example `{loc[-1]}: {examples[0]}`"
    return ""


def _key_message(kind_: str, ctx: dict[str, Any], value: Any) -> str:
    if kind_ == "string_pattern_mismatch":
        pattern = ctx.get("pattern", "")
        return f"must be {PATTERN_HINTS.get(pattern, 'a value matching ' + pattern)}"
    if kind_ == "literal_error":
        return f"use one of {ctx.get('expected', '')}" + (
            did_you_mean(
                str(value), [o.strip().strip("'") for o in str(ctx.get("expected", "")).replace(" or ", ",").split(",")]
            )
            if isinstance(value, str)
            else ""
        )
    if kind_ == "string_too_long":
        return f"at most {ctx.get('max_length')} characters"
    if kind_ == "string_type":
        return "keys must be strings"
    return kind_.replace("_", " ")
