"""Bundle format versions (`apiVersion`), and what `mlrig validate` says about one it cannot read.

Kept free of heavy imports: `validate` asks it on every unsupported `apiVersion`.
"""

from __future__ import annotations

import re

CURRENT = "mlrig/v1"
# Older versions `mlrig migrate` can upgrade from, oldest first; each has a migration in the
# registry that rewrites it to the next one (`registry.UPGRADES`). None yet: v1 is the first.
OLDER: tuple[str, ...] = ()
_VERSION = re.compile(r"^mlrig/v([0-9]+)$")


def version_hint(api_version: object) -> str:
    """The sentence `validate` adds after "unsupported apiVersion …"."""
    text = str(api_version)
    if text in OLDER:
        return f"this bundle was written for an older mlrig; `mlrig migrate` rewrites it to {CURRENT}"
    match, current = _VERSION.match(text), _VERSION.match(CURRENT)
    if match and current and int(match.group(1)) > int(current.group(1)):
        return "this bundle was written for a newer mlrig; upgrade mlrig"
    if match:
        return f"no migration from {text} is known; write the bundle for {CURRENT} (see `mlrig migrate --help`)"
    return f"set it to {CURRENT}"
