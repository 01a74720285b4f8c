"""0.1.0 → 0.2.0: a bundle lives in `<metadata.name>.yaml` (a platform may keep `platform.yaml`).

File names become CODEOWNERS paths, so they hold nothing but the bundle's name. A file named
otherwise is renamed in its directory; `.yml` files keep their suffix.
"""

from __future__ import annotations

from pathlib import Path

from .document import Document
from .registry import Bundles, Migration
from .versions import CURRENT


def target(document: Document) -> Path | None:
    """Where the file should be, or None when its name is right (or it has no usable name)."""
    name = document.name
    if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
        return None
    path = document.new_path or document.path
    allowed = {f"{name}{s}" for s in (".yaml", ".yml")}
    if document.kind == "Platform":
        allowed |= {"platform.yaml", "platform.yml"}
    if path.name in allowed:
        return None
    return path.with_name(f"{name}{path.suffix}")


def pending(bundles: Bundles) -> list[str]:
    return [f"{d.path}: bundle {d.name} belongs in {target(d)}" for d in bundles if target(d) is not None]


def apply(bundles: Bundles) -> list[str]:
    done = []
    taken = {d.new_path or d.path for d in bundles}
    for document in bundles:
        destination = target(document)
        if destination is None:
            continue
        if destination in taken or destination.exists():
            done.append(f"{document.path}: not renamed: {destination} exists; rename it by hand")
            continue
        taken.add(destination)
        document.new_path = destination
        done.append(f"{document.path} → {destination}")
    return done


MIGRATION = Migration("0003-file-names", CURRENT, "bundle files named <metadata.name>.yaml", pending, apply)
