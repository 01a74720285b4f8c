"""Where a plan comes from: the program that made it and a digest of what that program was given.

A stack's plan is a function of mlrig's program (its version) and of the resolved bundle it
plans: the bundle's model and, for a project, its platform's (the project's environments are
resolved against the platform's, and its stack reads the platform's outputs). `mlrig plan
--format json` records both as `provenance`, so that a later command can reuse the file only for
the same inputs: `mlrig diff --head-plans` refuses a plan of another revision or another mlrig
instead of diffing against it. Comments, key order and formatting of the files do not count; the
file's path does not either (the program never reads it: `mlrig:bundle` only locates the file).
"""

from __future__ import annotations

import hashlib
import json
from importlib import metadata
from typing import Any

from ..bundle.resolved import Project
from ..program import Target


def program_version() -> str:
    try:
        return f"mlrig {metadata.version('mlrig')}"
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "mlrig (unversioned)"


def inputs_digest(target: Target, program: str) -> str:
    """`sha256:…` of the program and the bundle models the stacks of `target` are planned from."""
    given: dict[str, Any] = {"program": program, "bundle": target.bundle.model_dump(mode="json")}
    if isinstance(target, Project):
        given["platform"] = target.platform.bundle.model_dump(mode="json")
    canonical = json.dumps(given, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def provenance(target: Target) -> dict[str, str]:
    """The `provenance` of a plan of `target`: `{"program": "mlrig X.Y.Z", "inputs": "sha256:…"}`."""
    program = program_version()
    return {"program": program, "inputs": inputs_digest(target, program)}
