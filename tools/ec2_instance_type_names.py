#!/usr/bin/env python3
"""Regenerate `infra/mlrig/data/ec2_instance_type_names.json`: the EC2 `InstanceType` enum of the
installed botocore's EC2 service model, which `mlrig validate` reads instead of loading botocore
for every valid name (see `mlrig.aws_catalog`). Run it after upgrading botocore in the lock:

    .venv/bin/python tools/ec2_instance_type_names.py

Writes the names sorted, one per line of the JSON array, so a regeneration is a reviewable diff.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "infra" / "mlrig" / "data" / "ec2_instance_type_names.json"


def snapshot() -> dict[str, object]:
    from mlrig.aws_catalog import botocore_instance_type_names, botocore_version

    return {"botocore": botocore_version(), "names": sorted(botocore_instance_type_names())}


def main() -> int:
    OUT.write_text(json.dumps(snapshot(), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
