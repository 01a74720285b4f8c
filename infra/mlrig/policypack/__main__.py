"""The mlrig policy pack: every check of `mlrig.checks` as a CrossGuard stack validation policy.

Mandatory checks fail `pulumi preview`/`up`; advisory ones warn. Policy names are the check ids in
lower case (`mlrig-dep-001`), so `--policy-pack-config` can change a level or disable one; the file
`mlrig policy-pack config` writes also tells MLRIG-DEP-005 which stack creates which roles.
"""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, PolicyConfigSchema, PolicyPack, StackValidationPolicy

from mlrig.checks import load_all
from mlrig.checks.adapter import CONFIG_PROPERTIES, policy_validator

LEVELS = {"mandatory": EnforcementLevel.MANDATORY, "advisory": EnforcementLevel.ADVISORY}


def policies() -> list[StackValidationPolicy]:
    return [
        StackValidationPolicy(
            name=check.id.lower(),
            description=f"{check.name}. {check.rationale}",
            enforcement_level=LEVELS[check.enforcement],
            validate=policy_validator(check),
            config_schema=PolicyConfigSchema(properties=CONFIG_PROPERTIES),
        )
        for check in load_all()
    ]


if __name__ == "__main__":
    PolicyPack(name="mlrig", policies=policies())  # type: ignore[arg-type]
