"""Which changes replace a resource, and which resources hold state.

`REPLACE_ON_CHANGE` lists, per Pulumi type token mlrig creates, the input properties whose change
makes the provider delete and recreate the resource (Terraform's `ForceNew` in the bridged AWS and
GitHub providers, "Update requires: Replacement" in AWS's own resource reference, immutable fields
in Kubernetes). Paths are dotted camelCase input paths; a change at the path or below it counts.
Every Kubernetes object is also replaced when `metadata.name` or `metadata.namespace` changes
(`KUBERNETES_IDENTITY`). A type missing here is only ever updated in place by this table; a URN
change (name, type or parent) replaces any resource. Where provider versions differ (newer AWS
providers update an EKS cluster's subnets in place; a cluster's secrets key can be added but never
changed), the table errs towards reporting a replacement: a reviewer should look.

`REFUSED_UPDATES` are in-place updates the provider would attempt and the service refuses (an EKS
cluster upgraded by more than one minor version, or downgraded; a database's storage shrunk below
what it has): `mlrig diff` calls them out at
the top, since merging such a change fails the apply.

`STATEFUL_TYPES` are the resources whose deletion loses data or an identity others hold on to
(buckets, registries, databases, keys, search domains, streams, secrets): their replacement or
deletion is called out at the top of `mlrig diff`, as is any resource with `protect` or
`retainOnDelete`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

REPLACE_ON_CHANGE: Mapping[str, tuple[str, ...]] = {
    # storage
    "aws:s3/bucket:Bucket": ("bucket", "bucketPrefix", "objectLockEnabled"),
    "aws:s3/bucketPolicy:BucketPolicy": ("bucket",),
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": ("bucket",),
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": ("bucket",),
    "aws:s3/bucketVersioning:BucketVersioning": ("bucket", "expectedBucketOwner"),
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (
        "bucket",
        "expectedBucketOwner",
    ),
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": ("bucket", "expectedBucketOwner"),
    "aws:s3/bucketLogging:BucketLogging": ("bucket", "expectedBucketOwner"),
    "aws:glue/catalogDatabase:CatalogDatabase": ("name", "catalogId"),
    # keys and secrets
    "aws:kms/key:Key": ("keyUsage", "customerMasterKeySpec", "keySpec", "multiRegion", "customKeyStoreId"),
    "aws:kms/alias:Alias": ("name", "namePrefix"),
    "aws:secretsmanager/secret:Secret": ("name", "namePrefix"),
    # databases and search
    "aws:rds/instance:Instance": (
        "identifier",
        "identifierPrefix",
        "engine",
        "dbName",
        "username",
        "kmsKeyId",
        "storageEncrypted",
        "availabilityZone",
        "characterSetName",
        "ncharCharacterSetName",
        "snapshotIdentifier",
        "timezone",
    ),
    "aws:rds/subnetGroup:SubnetGroup": ("name", "namePrefix"),
    "aws:opensearch/domain:Domain": ("domainName", "encryptAtRest.kmsKeyId"),
    # registries
    "aws:ecr/repository:Repository": ("name", "encryptionConfigurations"),
    "aws:ecr/lifecyclePolicy:LifecyclePolicy": ("repository",),
    "aws:ecr/repositoryPolicy:RepositoryPolicy": ("repository",),
    # streams, queues, topics, logs, alarms, events
    "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream": ("name", "destination"),
    "aws:sqs/queue:Queue": ("name", "namePrefix", "fifoQueue"),
    "aws:sqs/queuePolicy:QueuePolicy": ("queueUrl",),
    "aws:sns/topic:Topic": ("name", "namePrefix", "fifoTopic"),
    "aws:sns/topicSubscription:TopicSubscription": ("topic", "protocol", "endpoint"),
    "aws:cloudwatch/logGroup:LogGroup": ("name", "namePrefix"),
    "aws:cloudwatch/metricAlarm:MetricAlarm": ("name",),
    "aws:cloudwatch/eventRule:EventRule": ("name", "namePrefix", "eventBusName"),
    "aws:cloudwatch/eventTarget:EventTarget": ("rule", "targetId", "eventBusName"),
    # identity
    "aws:iam/role:Role": ("name", "namePrefix", "path"),
    "aws:iam/rolePolicy:RolePolicy": ("name", "namePrefix", "role"),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": ("role", "policyArn"),
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": ("url",),
    # cluster
    "aws:eks/cluster:Cluster": (
        "name",
        "roleArn",
        "kubernetesNetworkConfig",
        "accessConfig.bootstrapClusterCreatorAdminPermissions",
        "vpcConfig.subnetIds",
        "encryptionConfig",
    ),
    "aws:eks/nodeGroup:NodeGroup": (
        "clusterName",
        "nodeGroupName",
        "nodeGroupNamePrefix",
        "nodeRoleArn",
        "subnetIds",
        "amiType",
        "capacityType",
        "diskSize",
        "instanceTypes",
        "remoteAccess",
    ),
    "aws:eks/addon:Addon": ("clusterName", "addonName"),
    "aws:eks/accessEntry:AccessEntry": ("clusterName", "principalArn", "type"),
    "aws:eks/accessPolicyAssociation:AccessPolicyAssociation": (
        "clusterName",
        "principalArn",
        "policyArn",
        "accessScope",
    ),
    "aws:eks/podIdentityAssociation:PodIdentityAssociation": ("clusterName", "namespace", "serviceAccount"),
    # network
    "aws:ec2/vpc:Vpc": ("cidrBlock", "ipv4IpamPoolId"),
    "aws:ec2/subnet:Subnet": ("vpcId", "cidrBlock", "availabilityZone", "availabilityZoneId"),
    "aws:ec2/eip:Eip": ("domain", "networkBorderGroup", "publicIpv4Pool"),
    "aws:ec2/natGateway:NatGateway": ("allocationId", "subnetId", "connectivityType", "privateIp"),
    "aws:ec2/routeTable:RouteTable": ("vpcId",),
    "aws:ec2/routeTableAssociation:RouteTableAssociation": ("subnetId", "gatewayId"),
    "aws:ec2/securityGroup:SecurityGroup": ("name", "namePrefix", "vpcId", "description"),
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": ("vpcId",),
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": ("securityGroupId",),
    "aws:ec2/vpcEndpoint:VpcEndpoint": ("vpcId", "serviceName", "vpcEndpointType"),
    "aws:ec2/flowLog:FlowLog": (
        "vpcId",
        "logDestination",
        "logDestinationType",
        "trafficType",
        "iamRoleArn",
        "logFormat",
        "maxAggregationInterval",
    ),
    "aws:ec2/tag:Tag": ("resourceId", "key"),
    # GitHub
    "github:index/repositoryEnvironment:RepositoryEnvironment": ("repository", "environment"),
    "github:index/repositoryEnvironmentDeploymentPolicy:RepositoryEnvironmentDeploymentPolicy": (
        "repository",
        "environment",
    ),
    "github:index/actionsEnvironmentVariable:ActionsEnvironmentVariable": ("repository", "environment", "variableName"),
    "github:index/repositoryFile:RepositoryFile": ("repository", "file"),
    "github:index/branchProtection:BranchProtection": ("repositoryId",),
    # Kubernetes fields the API server refuses to update (besides metadata.name/namespace), as
    # pulumi-kubernetes lists them (provider/pkg/provider/diff.go `forceNew`): a change replaces
    # the object, deleting a named one first.
    "kubernetes:apps/v1:Deployment": ("spec.selector",),
    "kubernetes:apps/v1:DaemonSet": ("spec.selector",),
    "kubernetes:apps/v1:StatefulSet": (
        "spec.podManagementPolicy",
        "spec.revisionHistoryLimit",
        "spec.selector",
        "spec.serviceName",
        "spec.volumeClaimTemplates",
    ),
    "kubernetes:batch/v1:Job": ("spec.completions", "spec.parallelism", "spec.selector", "spec.template"),
    "kubernetes:core/v1:PersistentVolumeClaim": (
        "spec.accessModes",
        "spec.selector",
        "spec.storageClassName",
        "spec.volumeName",
    ),
    "kubernetes:core/v1:Secret": ("type",),
    "kubernetes:storage.k8s.io/v1:StorageClass": ("parameters", "provisioner"),
    "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding": ("roleRef",),
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding": ("roleRef",),
    "kubernetes:core/v1:Service": ("spec.clusterIP",),
    "kubernetes:helm.sh/v3:Release": ("name", "namespace"),
    # providers: a provider pointed at another region or cluster replaces what it manages
    "pulumi:providers:aws": ("region",),
    "pulumi:providers:kubernetes": ("kubeconfig",),
}

KUBERNETES_IDENTITY = ("metadata.name", "metadata.namespace")

STATEFUL_TYPES: frozenset[str] = frozenset(
    {
        "aws:s3/bucket:Bucket",
        "aws:ecr/repository:Repository",
        "aws:rds/instance:Instance",
        "aws:rds/cluster:Cluster",
        "aws:kms/key:Key",
        "aws:opensearch/domain:Domain",
        "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream",
        "aws:kinesis/stream:Stream",
        "aws:secretsmanager/secret:Secret",
        "aws:glue/catalogDatabase:CatalogDatabase",
        "aws:cloudwatch/logGroup:LogGroup",
        "aws:eks/cluster:Cluster",
        "kubernetes:core/v1:Namespace",
        "kubernetes:core/v1:PersistentVolumeClaim",
    }
)


def _eks_version_step(before: Mapping[str, object], after: Mapping[str, object]) -> str | None:
    """EKS upgrades a cluster one minor version per update and never downgrades it."""
    old, new = _minor(before.get("version")), _minor(after.get("version"))
    if old is None or new is None or new == old + 1 or new == old:
        return None
    if new < old:
        return f"EKS cannot downgrade a cluster (version {before['version']} → {after['version']})"
    steps = ", then ".join(f"1.{minor}" for minor in range(old + 1, new + 1))
    return (
        f"EKS upgrades a cluster one minor version at a time (version {before['version']} → {after['version']}): "
        f"merge and apply {steps}, one change each"
    )


def _minor(version: object) -> int | None:
    if not isinstance(version, str):
        return None
    major, _, minor = version.partition(".")
    return int(minor) if major == "1" and minor.isdigit() else None


def _rds_storage_shrink(before: Mapping[str, object], after: Mapping[str, object]) -> str | None:
    """RDS never shrinks a database's storage. With storage autoscaling on, the provider ignores a
    smaller `allocatedStorage`, but sends the new `maxAllocatedStorage`, which RDS refuses below
    what the instance already has (at least its old `allocatedStorage`)."""
    old, new_max = before.get("allocatedStorage"), after.get("maxAllocatedStorage")
    if not isinstance(old, int) or not isinstance(new_max, int) or new_max >= old:
        return None
    return (
        f"RDS never shrinks a database's storage: the instance has at least {old} GiB and the new storage "
        f"autoscaling limit is {new_max} GiB; keep the storage size, or move the data to a new database"
    )


# Updates the provider accepts but the service refuses at apply, by type token: what the change
# is refused for, from the resource's inputs before and after (None when allowed).
REFUSED_UPDATES: Mapping[str, Callable[[Mapping[str, object], Mapping[str, object]], str | None]] = {
    "aws:eks/cluster:Cluster": _eks_version_step,
    "aws:rds/instance:Instance": _rds_storage_shrink,
}


def refused_update(token: str, before: Mapping[str, object], after: Mapping[str, object]) -> str | None:
    """Why the cloud will refuse updating a resource of type `token` from `before` to `after`
    (their inputs), or None."""
    check = REFUSED_UPDATES.get(token)
    return check(before, after) if check is not None else None


def replace_paths(token: str) -> tuple[str, ...]:
    """The input paths whose change replaces a resource of type `token`."""
    paths = REPLACE_ON_CHANGE.get(token, ())
    if token.startswith("kubernetes:") and token != "kubernetes:helm.sh/v3:Release":
        paths = (*KUBERNETES_IDENTITY, *paths)
    return paths


def _covers(trigger: str, changed: str) -> bool:
    """`changed` (a dotted path, `[i]` for list items) is at or below `trigger`."""
    if changed == trigger:
        return True
    return changed.startswith(trigger + ".") or changed.startswith(trigger + "[")


def replacing_paths(token: str, changed: Iterable[str], replace_on_changes: Iterable[str] = ()) -> list[str]:
    """The changed paths that force a replacement: by the table, or by the resource's own
    `replaceOnChanges` option (`*` means any change)."""
    triggers = [*replace_paths(token), *replace_on_changes]
    if "*" in triggers:
        return list(changed)
    return [path for path in changed if any(_covers(trigger, path) for trigger in triggers)]


def is_stateful(resource: Mapping[str, object]) -> bool:
    """Holds data or an identity: a stateful type, or marked protect / retainOnDelete."""
    options = resource.get("options") or {}
    assert isinstance(options, Mapping)
    return (
        str(resource.get("type")) in STATEFUL_TYPES
        or bool(options.get("protect"))
        or bool(options.get("retainOnDelete"))
    )
