"""The AWS permissions `pulumi up` needs to deploy mlrig's stacks, as IAM policy documents.

Under `account` isolation every environment's account holds a role (`spec.environments.<env>.
deploymentRole`, default `mlrig-deployer`) that the stacks' AWS provider assumes: it needs a
permissions policy and a trust policy, which `mlrig init platform` writes to `aws/`. The trust
lets in the environment's own account and the state account (`spec.state.account`), whose
administrators run `mlrig bootstrap` and the first apply through this role. Under
`cluster` and `namespace` isolation the same permissions policy goes to whoever runs the first
`pulumi up` (the platform stacks then create their own CI roles).

The permissions are the services mlrig's resources and data sources belong to, each in full:
a landing zone creates VPCs, clusters and IAM roles, so nothing narrower works (and `iam:*` is
what makes this role powerful; it is the platform team's). `SERVICES` maps every Pulumi module
mlrig uses to its IAM service prefix; a test plans every stack kind and fails for a resource
type or data source whose module is missing here.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .. import naming
from ..bundle.resolved import Platform
from ..state import state_account

# Pulumi AWS module (or module/resource) → the IAM service prefix of its API. More specific keys
# win: the cloudwatch module spans three services.
SERVICES: dict[str, str | None] = {
    "cloudwatch": "cloudwatch",
    "cloudwatch/logGroup": "logs",
    "cloudwatch/eventRule": "events",
    "cloudwatch/eventTarget": "events",
    "ec2": "ec2",
    "vpc": "ec2",
    "ecr": "ecr",
    "eks": "eks",
    "glue": "glue",
    "iam": "iam",
    "iam/getPolicyDocument": None,  # rendered locally, no API call
    "kinesis": "firehose",
    "kms": "kms",
    "opensearch": "es",
    "rds": "rds",
    "s3": "s3",
    "secretsmanager": "secretsmanager",
    "sns": "sns",
    "sqs": "sqs",
    "ssm": "ssm",
    "index/getCallerIdentity": "sts",
    "index/getRegion": None,  # the provider's own configuration
    "index/getPartition": None,
    "index/getAvailabilityZones": "ec2",
}
# STS is granted action by action: the provider's identity check and role chaining (kubectl's
# `aws eks get-token --role-arn` assumes the deployment role again).
STS_ACTIONS = ("sts:GetCallerIdentity", "sts:AssumeRole", "sts:TagSession")
POLICY_FILE = "aws/mlrig-deployer-policy.json"


def service_of(token: str) -> str | None:
    """The IAM service of a Pulumi AWS type or function token (`aws:eks/nodeGroup:NodeGroup`).
    KeyError for a module this table does not know."""
    module = token.split(":")[1] if token.count(":") >= 2 else ""
    for key in (module, module.split("/")[0]):
        if key in SERVICES:
            return SERVICES[key]
    raise KeyError(token)


def permissions_policy() -> dict[str, Any]:
    services = sorted({s for s in SERVICES.values() if s and s != "sts"})
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DeployMlrigStacks",
                "Effect": "Allow",
                "Action": [f"{service}:*" for service in services],
                "Resource": "*",
            },
            {"Sid": "IdentityAndRoleChaining", "Effect": "Allow", "Action": list(STS_ACTIONS), "Resource": "*"},
        ],
    }


TRUSTED_ACTIONS = ["sts:AssumeRole", "sts:TagSession"]


def trust_policy(account: str, region: str, state_account: str | None = None) -> dict[str, Any]:
    """Principals of the environment's own account (the platform's CI deployment role, which the
    platform stack creates, and the account's administrators) and of the state account (the
    platform's operators: `mlrig bootstrap` creates the environment's secrets key through this
    role, and the first apply runs as it) may assume the role, if their own IAM policies allow
    it. The account principal needs no role to exist yet; narrow it to named roles once they do."""
    statements = [
        {
            "Sid": "PrincipalsOfThisAccount",
            "Effect": "Allow",
            "Principal": {"AWS": naming.account_root_arn(account, region)},
            "Action": TRUSTED_ACTIONS,
        }
    ]
    if state_account and state_account != account:
        statements.append(
            {
                "Sid": "PlatformOperatorsOfTheStateAccount",
                "Effect": "Allow",
                "Principal": {"AWS": naming.account_root_arn(state_account, region)},
                "Action": TRUSTED_ACTIONS,
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def trust_file(account: str) -> str:
    return f"aws/mlrig-deployer-trust-{account}.json"


# The trust files `deployer_files` may write: `mlrig generate` deletes one no bundle produces any
# more (an account left the platform, or the platform left `account` isolation).
TRUST_FILE = re.compile(r"aws/mlrig-deployer-trust-[0-9]{12}\.json")


def deployer_files(platform: Platform) -> dict[str, str]:
    """Path → text of the deployer role's documents for `platform`: the permissions, and under
    `account` isolation one trust policy per environment account. `mlrig generate` writes them
    (and `--check` flags them stale) whenever the platform bundle changes."""
    files = {POLICY_FILE: as_json(permissions_policy())}
    if platform.isolation == "account":
        operators = state_account(platform)
        accounts = {env.account: env.region for env in platform.environments.values() if env.account}
        for account, region in accounts.items():
            files[trust_file(account)] = as_json(trust_policy(account, region, operators))
    return files


def as_json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2) + "\n"
