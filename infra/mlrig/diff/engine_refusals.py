"""Changes the Pulumi engine or the cloud refuses at apply although the plan of each side is fine.

- **Protected resources.** `pulumi up` refuses to delete or replace a resource whose state says
  `protect` (the option of the deployed side counts: turning it off in the same change does not
  help), and the whole apply fails. Removing a registry, a gateway provider or the vector database
  from a prod bundle does exactly that.
- **Fixed physical names.** Pulumi replaces a resource by creating the new one first and deleting
  the old one afterwards, unless `deleteBeforeReplace` is set. A resource whose physical name (and
  the scope that name is unique in) stays the same across the replacement is then created under a
  name that still exists: S3 `BucketAlreadyOwnedByYou`, IAM `EntityAlreadyExists`, EKS
  `ResourceInUseException`, … The Kubernetes provider deletes a named object before replacing it
  by itself, so only the other providers are checked.

`PHYSICAL_NAMES` lists, per type token, the input holding the physical name and the inputs that
scope its uniqueness (a security group's name is unique per VPC).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PHYSICAL_NAMES: Mapping[str, tuple[str, tuple[str, ...]]] = {
    "aws:s3/bucket:Bucket": ("bucket", ()),
    "aws:ecr/repository:Repository": ("name", ()),
    "aws:rds/instance:Instance": ("identifier", ()),
    "aws:rds/subnetGroup:SubnetGroup": ("name", ()),
    "aws:opensearch/domain:Domain": ("domainName", ()),
    "aws:secretsmanager/secret:Secret": ("name", ()),
    "aws:kms/alias:Alias": ("name", ()),
    "aws:glue/catalogDatabase:CatalogDatabase": ("name", ("catalogId",)),
    "aws:iam/role:Role": ("name", ()),
    "aws:iam/rolePolicy:RolePolicy": ("name", ("role",)),
    "aws:sqs/queue:Queue": ("name", ()),
    "aws:sns/topic:Topic": ("name", ()),
    "aws:cloudwatch/logGroup:LogGroup": ("name", ()),
    "aws:cloudwatch/metricAlarm:MetricAlarm": ("name", ()),
    "aws:cloudwatch/eventRule:EventRule": ("name", ("eventBusName",)),
    "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream": ("name", ()),
    "aws:eks/cluster:Cluster": ("name", ()),
    "aws:eks/nodeGroup:NodeGroup": ("nodeGroupName", ("clusterName",)),
    "aws:eks/addon:Addon": ("addonName", ("clusterName",)),
    "aws:eks/accessEntry:AccessEntry": ("principalArn", ("clusterName",)),
    "aws:ec2/securityGroup:SecurityGroup": ("name", ("vpcId",)),
    "aws:ec2/placementGroup:PlacementGroup": ("name", ()),
}


def _options(resource: Mapping[str, Any]) -> Mapping[str, Any]:
    return resource.get("options") or {}


def protected_refusal(action: str, deployed: Mapping[str, Any]) -> str | None:
    """Why `pulumi up` stops at deleting or replacing `deployed` (the resource as it is now)."""
    if action not in ("delete", "replace") or not _options(deployed).get("protect"):
        return None
    kept = (
        "; being retainOnDelete, it then stays in AWS under its name: delete it by hand, or `pulumi import` it "
        "if it is added back"
        if _options(deployed).get("retainOnDelete")
        else ""
    )
    return (
        f"pulumi up refuses to {action} a protected resource and the whole apply fails; to go ahead deliberately "
        f"run `pulumi state unprotect '{deployed['urn']}'` on the stack first{kept}"
    )


def name_collision(before: Mapping[str, Any], after: Mapping[str, Any]) -> str | None:
    """Why creating the replacement `after` of `before` fails: it keeps a physical name that must
    be unique and the old resource still holds it (no deleteBeforeReplace)."""
    token = str(after.get("type"))
    if token not in PHYSICAL_NAMES or _options(after).get("deleteBeforeReplace"):
        return None
    name_input, scope = PHYSICAL_NAMES[token]
    old, new = before.get("inputs") or {}, after.get("inputs") or {}
    name = new.get(name_input)
    if not isinstance(name, str) or not name or old.get(name_input) != name:
        return None
    if any(old.get(key) != new.get(key) for key in scope):
        return None
    return (
        f"the replacement is created before the old one is deleted, under the same {name_input} {name!r}, "
        f"which the old one still holds: the create fails; set deleteBeforeReplace on the resource, or let "
        f"Pulumi name it ({name_input}Prefix)"
    )
