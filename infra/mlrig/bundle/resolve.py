"""Resolve per-environment overrides.

Merge rules (documented in the README and the schema):
- maps deep-merge key by key;
- lists whose items are all mappings with a `name` merge item by item on `name` (an override
  item updates the base item of the same name, new names are appended in override order);
- every other value, lists included, is replaced by the override.

Merging works on raw data, before validation, and records where every merged value came from
(`origins`), so that an error in the merged document points at the line the user wrote.
"""

from __future__ import annotations

from typing import Any

from .diagnostics import Path


def _is_named_list(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(item, dict) and isinstance(item.get("name"), str) for item in value
    )


class Merged:
    """Merged data plus the source path of every merged path."""

    def __init__(self) -> None:
        self.origins: dict[Path, Path] = {}

    def source_of(self, path: Path) -> Path:
        """The path in the source document for a path in the merged document."""
        probe = tuple(path)
        suffix: tuple[str | int, ...] = ()
        while probe:
            if probe in self.origins:
                return self.origins[probe] + suffix
            suffix = (probe[-1], *suffix)
            probe = probe[:-1]
        return self.origins.get((), ()) + suffix

    def merge(self, base: Any, override: Any, path: Path, base_src: Path, override_src: Path) -> Any:
        if isinstance(base, dict) and isinstance(override, dict):
            result: dict[str, Any] = {}
            # A key only the base holds needs no entry of its own: `source_of` finds this one.
            self.origins[path] = base_src
            for key, value in base.items():
                if key in override:
                    result[key] = self.merge(value, override[key], (*path, key), (*base_src, key), (*override_src, key))
                else:
                    result[key] = value
            for key, value in override.items():
                if key not in base:
                    result[key] = value
                    self.origins[(*path, key)] = (*override_src, key)
            return result
        if _is_named_list(base) and _is_named_list(override) and override:
            index = {item["name"]: i for i, item in enumerate(base)}
            first_override: dict[str, int] = {}
            for j, item in enumerate(override):
                first_override.setdefault(item["name"], j)
            merged_items: list[Any] = []
            used: set[str] = set()
            for i, item in enumerate(base):
                name = item["name"]
                # Only the first item of a name takes the override; a duplicate is reported as such.
                match = None if name in used else first_override.get(name)
                if match is None:
                    merged_items.append(item)
                    self.origins[(*path, i)] = (*base_src, i)
                else:
                    used.add(name)
                    merged_items.append(
                        self.merge(item, override[match], (*path, i), (*base_src, i), (*override_src, match))
                    )
            for j, item in enumerate(override):
                if item["name"] not in index:
                    self.origins[(*path, len(merged_items))] = (*override_src, j)
                    merged_items.append(item)
            self.origins[path] = override_src
            return merged_items
        self.origins[path] = override_src
        return override


def merge_override(
    base: dict[str, Any], override: dict[str, Any], base_src: Path, override_src: Path
) -> tuple[dict[str, Any], Merged]:
    """Deep-merge `override` over `base`; paths in the result are relative to the merged spec."""
    merged = Merged()
    result = merged.merge(base, override, (), base_src, override_src)
    merged.origins[()] = base_src
    return result, merged
