"""The mlrig policy pack: every check of `mlrig.checks` as a CrossGuard stack validation policy.

Mandatory checks fail `pulumi preview`/`up`; advisory ones warn. Policy names are the check ids in
lower case (`mlrig-dep-001`), so `--policy-pack-config` can change a level or disable one.
"""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, PolicyPack, StackValidationPolicy

from mlrig.checks import load_all
from mlrig.checks.adapter import policy_validator

LEVELS = {"mandatory": EnforcementLevel.MANDATORY, "advisory": EnforcementLevel.ADVISORY}


def policies() -> list[StackValidationPolicy]:
    return [
        StackValidationPolicy(
            name=check.id.lower(),
            description=f"{check.name}. {check.rationale}",
            enforcement_level=LEVELS[check.enforcement],
            validate=policy_validator(check),
        )
        for check in load_all()
    ]


if __name__ == "__main__":
    PolicyPack(name="mlrig", policies=policies())  # type: ignore[arg-type]
