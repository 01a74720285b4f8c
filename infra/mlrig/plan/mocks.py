"""Mocks that answer the Pulumi program the way AWS, EKS and Kubernetes would.

Every id, name and ARN is derived from the resource's inputs, its logical name and the account
and region of the provider it deploys through, so policies in a plan carry the ARNs a real
deployment would. Nothing is random: the same program gives the same plan.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pulumi.runtime import Mocks
from pulumi.runtime.mocks import MockCallArgs, MockResourceArgs

from ..aws_catalog import EKS_UNSUPPORTED_ZONE_IDS, availability_zones
from ..naming import partition as partition_of

DEFAULT_ACCOUNT = "123456789012"
DEFAULT_REGION = "us-east-1"
STACK_REFERENCE = "pulumi:pulumi:StackReference"
PLAN_NAMESPACE = uuid.UUID("5f0c7a8e-52b4-4c38-9d0e-6d4c4b0f6c11")


class MissingStackReference(Exception):
    """A program read a stack that the plan was not given the outputs of."""

    def __init__(self, name: str, known: list[str]):
        self.name = name
        hint = f" (known: {', '.join(sorted(known))})" if known else ""
        super().__init__(
            f"the program reads stack '{name}' through a StackReference, but its outputs were not provided{hint}"
        )


def digest(*parts: str, length: int = 17) -> str:
    """A stable lowercase hex string of `length` characters derived from `parts`."""
    text = "\x1f".join(parts)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def stable_uuid(*parts: str) -> str:
    return str(uuid.uuid5(PLAN_NAMESPACE, "\x1f".join(parts)))


@dataclass(frozen=True)
class Target:
    """Where a resource lives: the account, region and partition of its provider."""

    account: str = DEFAULT_ACCOUNT
    region: str = DEFAULT_REGION

    @property
    def partition(self) -> str:
        return partition_of(self.region)

    @property
    def dns_suffix(self) -> str:
        return "amazonaws.com.cn" if self.partition == "aws-cn" else "amazonaws.com"


def _json_list(value: Any) -> list[Any]:
    """Provider inputs arrive JSON-encoded (`'["111111111111"]'`) or as plain lists."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return [value]
    return list(value) if isinstance(value, list) else []


def target_of_provider(inputs: Mapping[str, Any]) -> Target:
    region = inputs.get("region") or DEFAULT_REGION
    accounts = _json_list(inputs.get("allowedAccountIds"))
    account = str(accounts[0]) if accounts else None
    if account is None:
        for role in _json_list(inputs.get("assumeRoles")) + _json_list(inputs.get("assumeRole")):
            arn = role.get("roleArn", "") if isinstance(role, dict) else ""
            parts = arn.split(":")
            if len(parts) > 4 and parts[4]:
                account = parts[4]
                break
    return Target(account or DEFAULT_ACCOUNT, str(region))


# --- names ---------------------------------------------------------------------------------------


def auto_name(logical: str, *, length: int = 7, lower: bool = False) -> str:
    """Pulumi's auto-name: `<logical-name>-<7 hex>`, here derived from the name, not random."""
    name = f"{logical}-{digest('autoname', logical, length=length)}"
    return name.lower() if lower else name


# Resources whose physical name input is not `name`.
NAME_PROPERTY: dict[str, str] = {
    "aws:s3/bucket:Bucket": "bucket",
    "aws:s3/bucketV2:BucketV2": "bucket",
    "aws:rds/instance:Instance": "identifier",
    "aws:rds/cluster:Cluster": "clusterIdentifier",
    "aws:rds/clusterInstance:ClusterInstance": "identifier",
    "aws:eks/nodeGroup:NodeGroup": "nodeGroupName",
    "aws:eks/fargateProfile:FargateProfile": "fargateProfileName",
    "aws:opensearch/domain:Domain": "domainName",
    "aws:elasticache/replicationGroup:ReplicationGroup": "replicationGroupId",
}

_has_name_cache: dict[str, bool] = {}
_cache_lock = threading.Lock()


def _class_of(token: str) -> Any:
    """`aws:iam/role:Role` → `pulumi_aws.iam.Role` (None when it cannot be found)."""
    import importlib

    package, module_path, cls = token.split(":", 2)
    module = module_path.split("/")[0]
    try:
        top = importlib.import_module(f"pulumi_{package.replace('-', '_')}")
        owner = top if module == "index" else getattr(top, module.replace("-", "_"), None)
        return getattr(owner, cls, None) if owner is not None else None
    except (ImportError, AttributeError):
        return None


def has_name_property(token: str) -> bool:
    """Whether the resource type has an (auto-named) `name` property, as its SDK class says."""
    with _cache_lock:
        if token in _has_name_cache:
            return _has_name_cache[token]
    cls = _class_of(token) if token.count(":") == 2 else None
    found = bool(cls is not None and isinstance(getattr(cls, "name", None), property))
    with _cache_lock:
        _has_name_cache[token] = found
    return found


def physical_name(args: MockResourceArgs) -> tuple[str | None, str | None]:
    """(property, name): the input that names the resource, filled by auto-naming when absent."""
    prop = NAME_PROPERTY.get(args.typ)
    if prop is None and has_name_property(args.typ):
        prop = "name"
    if prop is None:
        return None, None
    given = args.inputs.get(prop)
    if isinstance(given, str) and given:
        return prop, given
    prefix = args.inputs.get(f"{prop}Prefix")
    if isinstance(prefix, str) and prefix:
        return prop, f"{prefix}{digest('prefix', args.name, length=26)}"
    return prop, auto_name(args.name, lower=args.typ in ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"))


# --- AWS resource shapes -------------------------------------------------------------------------

Shape = Callable[["Ctx"], dict[str, Any]]


@dataclass(frozen=True)
class Ctx:
    typ: str
    logical: str
    inputs: Mapping[str, Any]
    name: str  # physical name ("" when the type has none)
    target: Target

    @property
    def account(self) -> str:
        return self.target.account

    @property
    def region(self) -> str:
        return self.target.region

    @property
    def partition(self) -> str:
        return self.target.partition

    def hex(self, length: int = 17, salt: str = "") -> str:
        return digest(self.typ, self.logical, self.name, salt, length=length)

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        return (
            f"arn:{self.partition}:{service}:{self.region if region else ''}:"
            f"{self.account if account else ''}:{resource}"
        )

    def ec2(self, prefix: str, kind: str) -> dict[str, Any]:
        ident = f"{prefix}-{self.hex()}"
        return {"id": ident, "arn": self.arn("ec2", f"{kind}/{ident}"), "ownerId": self.account}


def _iam_path(ctx: Ctx) -> str:
    path = ctx.inputs.get("path") or "/"
    return str(path)


def _role(ctx: Ctx) -> dict[str, Any]:
    return {
        "id": ctx.name,
        "arn": ctx.arn("iam", f"role{_iam_path(ctx)}{ctx.name}", region=False),
        "uniqueId": "AROA" + ctx.hex(17).upper(),
        "path": _iam_path(ctx),
        "createDate": "2026-01-01T00:00:00Z",
    }


def _policy(ctx: Ctx) -> dict[str, Any]:
    arn = ctx.arn("iam", f"policy{_iam_path(ctx)}{ctx.name}", region=False)
    return {
        "id": arn,
        "arn": arn,
        "policyId": "ANPA" + ctx.hex(17).upper(),
        "path": _iam_path(ctx),
        "attachmentCount": 1,
    }


def _instance_profile(ctx: Ctx) -> dict[str, Any]:
    return {
        "id": ctx.name,
        "arn": ctx.arn("iam", f"instance-profile{_iam_path(ctx)}{ctx.name}", region=False),
        "uniqueId": "AIPA" + ctx.hex(17).upper(),
    }


def _oidc_provider(ctx: Ctx) -> dict[str, Any]:
    url = str(ctx.inputs.get("url", "")).removeprefix("https://")
    arn = ctx.arn("iam", f"oidc-provider/{url}", region=False)
    return {"id": arn, "arn": arn}


def _role_policy(ctx: Ctx) -> dict[str, Any]:
    return {"id": f"{ctx.inputs.get('role', '')}:{ctx.name}"}


def _role_policy_attachment(ctx: Ctx) -> dict[str, Any]:
    return {"id": f"{ctx.inputs.get('role', '')}-{ctx.hex(20)}"}


def _bucket(ctx: Ctx) -> dict[str, Any]:
    return {
        "id": ctx.name,
        "arn": f"arn:{ctx.partition}:s3:::{ctx.name}",
        "bucketDomainName": f"{ctx.name}.s3.{ctx.target.dns_suffix}",
        "bucketRegionalDomainName": f"{ctx.name}.s3.{ctx.region}.{ctx.target.dns_suffix}",
        "hostedZoneId": "Z3AQBSTGFYJSTF",
        "region": ctx.region,
    }


def _bucket_child(ctx: Ctx) -> dict[str, Any]:
    return {"id": str(ctx.inputs.get("bucket", ctx.name or ctx.logical))}


def _kms_key(ctx: Ctx) -> dict[str, Any]:
    key_id = stable_uuid(ctx.account, ctx.region, ctx.logical)
    return {"id": key_id, "keyId": key_id, "arn": ctx.arn("kms", f"key/{key_id}")}


def _kms_alias(ctx: Ctx) -> dict[str, Any]:
    target = str(ctx.inputs.get("targetKeyId", ""))
    target_arn = target if target.startswith("arn:") else ctx.arn("kms", f"key/{target}")
    return {"id": ctx.name, "arn": ctx.arn("kms", ctx.name), "targetKeyArn": target_arn}


def _vpc(ctx: Ctx) -> dict[str, Any]:
    out = ctx.ec2("vpc", "vpc")
    out.update(
        defaultSecurityGroupId=f"sg-{ctx.hex(salt='sg')}",
        defaultRouteTableId=f"rtb-{ctx.hex(salt='rtb')}",
        mainRouteTableId=f"rtb-{ctx.hex(salt='rtb')}",
        defaultNetworkAclId=f"acl-{ctx.hex(salt='acl')}",
        dhcpOptionsId=f"dopt-{ctx.hex(salt='dopt')}",
        instanceTenancy="default",
    )
    return out


def _eip(ctx: Ctx) -> dict[str, Any]:
    h = int(ctx.hex(8), 16)
    ip = f"{(h >> 24) % 200 + 3}.{(h >> 16) % 256}.{(h >> 8) % 256}.{h % 254 + 1}"
    ident = f"eipalloc-{ctx.hex()}"
    return {
        "id": ident,
        "allocationId": ident,
        "publicIp": ip,
        "domain": "vpc",
        "arn": ctx.arn("ec2", f"elastic-ip/{ident}"),
    }


def _nat(ctx: Ctx) -> dict[str, Any]:
    out = ctx.ec2("nat", "natgateway")
    out["networkInterfaceId"] = f"eni-{ctx.hex(salt='eni')}"
    return out


def _route(ctx: Ctx) -> dict[str, Any]:
    return {
        "id": f"r-{ctx.inputs.get('routeTableId', 'rtb')}{digest(str(ctx.inputs.get('destinationCidrBlock', '')), length=10)}"
    }


def _vpc_endpoint(ctx: Ctx) -> dict[str, Any]:
    out = ctx.ec2("vpce", "vpc-endpoint")
    service = str(ctx.inputs.get("serviceName", ""))
    out["dnsEntries"] = [
        {
            "dnsName": f"{out['id']}.{service.split('.')[-1] if service else 'svc'}.{ctx.region}.vpce.{ctx.target.dns_suffix}",
            "hostedZoneId": "Z7HUB22UULQXV",
        }
    ]
    out["prefixListId"] = f"pl-{ctx.hex(8)}"
    out["state"] = "available"
    return out


def _security_group(ctx: Ctx) -> dict[str, Any]:
    out = ctx.ec2("sg", "security-group")
    return out


def _launch_template(ctx: Ctx) -> dict[str, Any]:
    out = ctx.ec2("lt", "launch-template")
    out.update(latestVersion=1, defaultVersion=1)
    return out


def _eks_cluster(ctx: Ctx) -> dict[str, Any]:
    oidc = ctx.hex(32, "oidc").upper()
    ca = base64.b64encode(
        f"-----BEGIN CERTIFICATE-----\nMLRIGPLAN{ctx.hex(32, 'ca')}\n-----END CERTIFICATE-----\n".encode()
    ).decode()
    vpc_config = dict(ctx.inputs.get("vpcConfig") or {})
    vpc_config.update(clusterSecurityGroupId=f"sg-{ctx.hex(salt='cluster-sg')}", vpcId=f"vpc-{ctx.hex(salt='vpc')}")
    return {
        "id": ctx.name,
        "arn": ctx.arn("eks", f"cluster/{ctx.name}"),
        "endpoint": f"https://{ctx.hex(32, 'endpoint').upper()}.gr7.{ctx.region}.eks.{ctx.target.dns_suffix}",
        "certificateAuthority": {"data": ca},
        "certificateAuthorities": [{"data": ca}],
        "identities": [{"oidcs": [{"issuer": f"https://oidc.eks.{ctx.region}.{ctx.target.dns_suffix}/id/{oidc}"}]}],
        "vpcConfig": vpc_config,
        "status": "ACTIVE",
        "platformVersion": "eks.1",
        "version": ctx.inputs.get("version") or "1.34",
        "clusterId": stable_uuid(ctx.account, ctx.name),
    }


def _eks_child(separator: str, *keys: str) -> Shape:
    def shape(ctx: Ctx) -> dict[str, Any]:
        parts = [str(ctx.inputs.get(k, "")) for k in keys]
        return {"id": separator.join([str(ctx.inputs.get("clusterName", "")), *parts])}

    return shape


def _node_group(ctx: Ctx) -> dict[str, Any]:
    cluster = str(ctx.inputs.get("clusterName", ""))
    return {
        "id": f"{cluster}:{ctx.name}",
        "arn": ctx.arn("eks", f"nodegroup/{cluster}/{ctx.name}/{stable_uuid(ctx.name)}"),
        "status": "ACTIVE",
        "resources": [
            {
                "autoscalingGroups": [{"name": f"eks-{ctx.name}-{stable_uuid(ctx.name)}"}],
                "remoteAccessSecurityGroupId": "",
            }
        ],
    }


def _eks_addon(ctx: Ctx) -> dict[str, Any]:
    cluster, addon = str(ctx.inputs.get("clusterName", "")), str(ctx.inputs.get("addonName", ""))
    return {
        "id": f"{cluster}:{addon}",
        "arn": ctx.arn("eks", f"addon/{cluster}/{addon}/{stable_uuid(cluster, addon)}"),
        "addonVersion": ctx.inputs.get("addonVersion") or "v1.0.0-eksbuild.1",
    }


def _access_entry(ctx: Ctx) -> dict[str, Any]:
    cluster, principal = str(ctx.inputs.get("clusterName", "")), str(ctx.inputs.get("principalArn", ""))
    return {
        "id": f"{cluster}:{principal}",
        "accessEntryArn": ctx.arn(
            "eks", f"access-entry/{cluster}/role/{ctx.account}/{principal.rsplit('/', 1)[-1]}/{stable_uuid(principal)}"
        ),
        "type": ctx.inputs.get("type") or "STANDARD",
    }


def _pod_identity(ctx: Ctx) -> dict[str, Any]:
    cluster = str(ctx.inputs.get("clusterName", ""))
    association = f"a-{ctx.hex(17)}"
    return {
        "id": f"{cluster},{association}",
        "associationId": association,
        "associationArn": ctx.arn("eks", f"podidentityassociation/{cluster}/{association}"),
    }


def _ecr(ctx: Ctx) -> dict[str, Any]:
    return {
        "id": ctx.name,
        "arn": ctx.arn("ecr", f"repository/{ctx.name}"),
        "registryId": ctx.account,
        "repositoryUrl": f"{ctx.account}.dkr.ecr.{ctx.region}.{ctx.target.dns_suffix}/{ctx.name}",
    }


def _queue(ctx: Ctx) -> dict[str, Any]:
    url = f"https://sqs.{ctx.region}.{ctx.target.dns_suffix}/{ctx.account}/{ctx.name}"
    return {"id": url, "url": url, "arn": ctx.arn("sqs", ctx.name)}


def _rds_instance(ctx: Ctx) -> dict[str, Any]:
    engine = str(ctx.inputs.get("engine", "postgres"))
    port = ctx.inputs.get("port") or (3306 if "mysql" in engine or "maria" in engine else 5432)
    address = f"{ctx.name}.{ctx.hex(12, 'rds')}.{ctx.region}.rds.{ctx.target.dns_suffix}"
    out: dict[str, Any] = {
        "id": f"db-{ctx.hex(26).upper()}",
        "arn": ctx.arn("rds", f"db:{ctx.name}"),
        "address": address,
        "endpoint": f"{address}:{port}",
        "port": port,
        "resourceId": f"db-{ctx.hex(26).upper()}",
        "hostedZoneId": "Z2R2ITUGPM61AM",
    }
    if ctx.inputs.get("manageMasterUserPassword"):
        out["masterUserSecrets"] = [
            {
                "secretArn": ctx.arn("secretsmanager", f"secret:rds!db-{stable_uuid(ctx.name)}-{ctx.hex(6)}"),
                "secretStatus": "active",
                "kmsKeyId": "",
            }
        ]
    return out


def _rds_cluster(ctx: Ctx) -> dict[str, Any]:
    h = ctx.hex(12, "rds")
    return {
        "id": ctx.name,
        "arn": ctx.arn("rds", f"cluster:{ctx.name}"),
        "endpoint": f"{ctx.name}.cluster-{h}.{ctx.region}.rds.{ctx.target.dns_suffix}",
        "readerEndpoint": f"{ctx.name}.cluster-ro-{h}.{ctx.region}.rds.{ctx.target.dns_suffix}",
        "port": ctx.inputs.get("port") or 5432,
        "clusterResourceId": f"cluster-{ctx.hex(26).upper()}",
    }


def _opensearch(ctx: Ctx) -> dict[str, Any]:
    return {
        "id": ctx.arn("es", f"domain/{ctx.name}"),
        "arn": ctx.arn("es", f"domain/{ctx.name}"),
        "domainId": f"{ctx.account}/{ctx.name}",
        "endpoint": f"vpc-{ctx.name}-{ctx.hex(26, 'es')}.{ctx.region}.es.{ctx.target.dns_suffix}",
        "dashboardEndpoint": f"vpc-{ctx.name}-{ctx.hex(26, 'es')}.{ctx.region}.es.{ctx.target.dns_suffix}/_dashboards",
    }


def _secret(ctx: Ctx) -> dict[str, Any]:
    arn = ctx.arn("secretsmanager", f"secret:{ctx.name}-{ctx.hex(6, 'secret')}")
    return {"id": arn, "arn": arn}


def _secret_version(ctx: Ctx) -> dict[str, Any]:
    version = stable_uuid(str(ctx.inputs.get("secretId", "")), ctx.logical)
    return {
        "id": f"{ctx.inputs.get('secretId', '')}|{version}",
        "versionId": version,
        "arn": ctx.inputs.get("secretId", ""),
    }


def _log_group(ctx: Ctx) -> dict[str, Any]:
    return {"id": ctx.name, "arn": ctx.arn("logs", f"log-group:{ctx.name}")}


def _event_rule(ctx: Ctx) -> dict[str, Any]:
    bus = ctx.inputs.get("eventBusName") or "default"
    return {"id": ctx.name if bus == "default" else f"{bus}/{ctx.name}", "arn": ctx.arn("events", f"rule/{ctx.name}")}


def _event_target(ctx: Ctx) -> dict[str, Any]:
    target = ctx.inputs.get("targetId") or auto_name(ctx.logical)
    return {"id": f"{ctx.inputs.get('rule', '')}-{target}", "targetId": target}


def _firehose(ctx: Ctx) -> dict[str, Any]:
    arn = ctx.arn("firehose", f"deliverystream/{ctx.name}")
    return {"id": arn, "arn": arn}


def _topic(ctx: Ctx) -> dict[str, Any]:
    arn = ctx.arn("sns", ctx.name)
    return {"id": arn, "arn": arn}


def _ssm_parameter(ctx: Ctx) -> dict[str, Any]:
    name = ctx.name.lstrip("/")
    return {"id": ctx.name, "arn": ctx.arn("ssm", f"parameter/{name}"), "version": 1}


def _alarm(ctx: Ctx) -> dict[str, Any]:
    return {"id": ctx.name, "arn": ctx.arn("cloudwatch", f"alarm:{ctx.name}")}


def _lambda(ctx: Ctx) -> dict[str, Any]:
    arn = ctx.arn("lambda", f"function:{ctx.name}")
    return {
        "id": ctx.name,
        "arn": arn,
        "invokeArn": f"arn:{ctx.partition}:apigateway:{ctx.region}:lambda:path/2015-03-31/functions/{arn}/invocations",
        "version": "$LATEST",
        "qualifiedArn": f"{arn}:$LATEST",
    }


def _sfn(ctx: Ctx) -> dict[str, Any]:
    arn = ctx.arn("states", f"stateMachine:{ctx.name}")
    return {"id": arn, "arn": arn}


def _default_security_group(ctx: Ctx) -> dict[str, Any]:
    out = ctx.ec2("sg", "security-group")
    out["name"] = "default"  # the VPC's own group: adopted, never named
    return out


def _glue_database(ctx: Ctx) -> dict[str, Any]:
    return {"id": f"{ctx.account}:{ctx.name}", "arn": ctx.arn("glue", f"database/{ctx.name}"), "catalogId": ctx.account}


def _topic_subscription(ctx: Ctx) -> dict[str, Any]:
    arn = f"{ctx.inputs.get('topic', '')}:{stable_uuid(ctx.logical)}"
    return {"id": arn, "arn": arn, "ownerId": ctx.account}


AWS_SHAPES: dict[str, Shape] = {
    "aws:iam/role:Role": _role,
    "aws:iam/policy:Policy": _policy,
    "aws:iam/instanceProfile:InstanceProfile": _instance_profile,
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": _oidc_provider,
    "aws:iam/rolePolicy:RolePolicy": _role_policy,
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": _role_policy_attachment,
    "aws:s3/bucket:Bucket": _bucket,
    "aws:s3/bucketV2:BucketV2": _bucket,
    "aws:kms/key:Key": _kms_key,
    "aws:kms/alias:Alias": _kms_alias,
    "aws:ec2/vpc:Vpc": _vpc,
    "aws:ec2/subnet:Subnet": lambda c: c.ec2("subnet", "subnet"),
    "aws:ec2/internetGateway:InternetGateway": lambda c: c.ec2("igw", "internet-gateway"),
    "aws:ec2/eip:Eip": _eip,
    "aws:ec2/natGateway:NatGateway": _nat,
    "aws:ec2/routeTable:RouteTable": lambda c: c.ec2("rtb", "route-table"),
    "aws:ec2/route:Route": _route,
    "aws:ec2/routeTableAssociation:RouteTableAssociation": lambda c: {"id": f"rtbassoc-{c.hex()}"},
    "aws:ec2/securityGroup:SecurityGroup": _security_group,
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": _default_security_group,
    "aws:ec2/tag:Tag": lambda c: {"id": f"{c.inputs.get('resourceId', '')},{c.inputs.get('key', '')}"},
    "aws:glue/catalogDatabase:CatalogDatabase": _glue_database,
    "aws:sns/topicSubscription:TopicSubscription": _topic_subscription,
    "aws:ec2/securityGroupRule:SecurityGroupRule": lambda c: {"id": f"sgrule-{c.hex(10)}"},
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": lambda c: {
        "id": f"sgr-{c.hex()}",
        "arn": c.arn("ec2", f"security-group-rule/sgr-{c.hex()}"),
        "securityGroupRuleId": f"sgr-{c.hex()}",
    },
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": lambda c: {
        "id": f"sgr-{c.hex()}",
        "arn": c.arn("ec2", f"security-group-rule/sgr-{c.hex()}"),
        "securityGroupRuleId": f"sgr-{c.hex()}",
    },
    "aws:ec2/vpcEndpoint:VpcEndpoint": _vpc_endpoint,
    "aws:ec2/flowLog:FlowLog": lambda c: c.ec2("fl", "vpc-flow-log"),
    "aws:ec2/launchTemplate:LaunchTemplate": _launch_template,
    "aws:eks/cluster:Cluster": _eks_cluster,
    "aws:eks/nodeGroup:NodeGroup": _node_group,
    "aws:eks/addon:Addon": _eks_addon,
    "aws:eks/accessEntry:AccessEntry": _access_entry,
    "aws:eks/accessPolicyAssociation:AccessPolicyAssociation": _eks_child("#", "principalArn", "policyArn"),
    "aws:eks/podIdentityAssociation:PodIdentityAssociation": _pod_identity,
    "aws:ecr/repository:Repository": _ecr,
    "aws:ecr/lifecyclePolicy:LifecyclePolicy": lambda c: {
        "id": str(c.inputs.get("repository", "")),
        "registryId": c.account,
    },
    "aws:ecr/repositoryPolicy:RepositoryPolicy": lambda c: {
        "id": str(c.inputs.get("repository", "")),
        "registryId": c.account,
    },
    "aws:sqs/queue:Queue": _queue,
    "aws:sqs/queuePolicy:QueuePolicy": lambda c: {"id": str(c.inputs.get("queueUrl", ""))},
    "aws:rds/instance:Instance": _rds_instance,
    "aws:rds/cluster:Cluster": _rds_cluster,
    "aws:rds/subnetGroup:SubnetGroup": lambda c: {"id": c.name, "arn": c.arn("rds", f"subgrp:{c.name}")},
    "aws:rds/parameterGroup:ParameterGroup": lambda c: {"id": c.name, "arn": c.arn("rds", f"pg:{c.name}")},
    "aws:opensearch/domain:Domain": _opensearch,
    "aws:secretsmanager/secret:Secret": _secret,
    "aws:secretsmanager/secretVersion:SecretVersion": _secret_version,
    "aws:cloudwatch/logGroup:LogGroup": _log_group,
    "aws:cloudwatch/eventRule:EventRule": _event_rule,
    "aws:cloudwatch/eventTarget:EventTarget": _event_target,
    "aws:cloudwatch/metricAlarm:MetricAlarm": _alarm,
    "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream": _firehose,
    "aws:sns/topic:Topic": _topic,
    "aws:ssm/parameter:Parameter": _ssm_parameter,
    "aws:lambda/function:Function": _lambda,
    "aws:sfn/stateMachine:StateMachine": _sfn,
}

_BUCKET_CHILD = re.compile(r"^aws:s3/bucket[A-Z]\w*:")


def _camel_to_kebab(word: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", word).lower()


def generic_aws(ctx: Ctx) -> dict[str, Any]:
    """`arn:aws:<service>:<region>:<account>:<resource>/<name>` from the type token."""
    _, module_path, _ = ctx.typ.split(":", 2)
    service, _, resource = module_path.partition("/")
    ident = ctx.name or f"{_camel_to_kebab(resource)[:8]}-{ctx.hex()}"
    return {"id": ident, "arn": ctx.arn(service, f"{_camel_to_kebab(resource)}/{ident}")}


def aws_outputs(ctx: Ctx) -> dict[str, Any]:
    shape = AWS_SHAPES.get(ctx.typ)
    if shape is None and _BUCKET_CHILD.match(ctx.typ) and "bucket" in ctx.inputs:
        shape = _bucket_child
    return (shape or generic_aws)(ctx)


# --- Kubernetes ----------------------------------------------------------------------------------


def kubernetes_outputs(args: MockResourceArgs, namespace_default: str = "default") -> tuple[str, dict[str, Any]]:
    inputs = dict(args.inputs)
    if args.typ == "kubernetes:helm.sh/v3:Release":
        name = inputs.get("name") or auto_name(args.name, length=8, lower=True)
        namespace = inputs.get("namespace") or namespace_default
        chart = inputs.get("chart", "")
        status = {
            "name": name,
            "namespace": namespace,
            "chart": chart,
            "version": inputs.get("version", ""),
            "appVersion": inputs.get("version", ""),
            "revision": 1,
            "status": "deployed",
        }
        return f"{namespace}/{name}", {**inputs, "name": name, "namespace": namespace, "status": status}
    metadata = dict(inputs.get("metadata") or {})
    if not metadata.get("name"):
        metadata["name"] = auto_name(args.name, length=8, lower=True)
    namespaced = args.typ not in _CLUSTER_SCOPED and not args.typ.startswith(
        "kubernetes:rbac.authorization.k8s.io/v1:Cluster"
    )
    if namespaced and not metadata.get("namespace") and args.typ != "kubernetes:core/v1:Namespace":
        metadata["namespace"] = namespace_default
    metadata.setdefault("uid", stable_uuid("k8s", args.typ, str(metadata.get("namespace", "")), metadata["name"]))
    ident = f"{metadata['namespace']}/{metadata['name']}" if metadata.get("namespace") else str(metadata["name"])
    return ident, {**inputs, "metadata": metadata}


_CLUSTER_SCOPED = {
    "kubernetes:core/v1:Namespace",
    "kubernetes:core/v1:PersistentVolume",
    "kubernetes:core/v1:Node",
    "kubernetes:storage.k8s.io/v1:StorageClass",
    "kubernetes:scheduling.k8s.io/v1:PriorityClass",
    "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition",
    "kubernetes:admissionregistration.k8s.io/v1:ValidatingWebhookConfiguration",
    "kubernetes:admissionregistration.k8s.io/v1:MutatingWebhookConfiguration",
}


# --- random ----------------------------------------------------------------------------------


def random_outputs(args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
    """pulumi-random answers: a stable stand-in of the requested length (never a real secret)."""
    inputs = dict(args.inputs)
    seed = digest("random", args.typ, args.name, length=64)
    if args.typ in ("random:index/randomPassword:RandomPassword", "random:index/randomString:RandomString"):
        length = int(inputs.get("length") or 16)
        text = (seed * (length // 64 + 1))[:length]
        return "none", {**inputs, "result": text, "bcryptHash": f"$2a$10${seed[:53]}"}
    if args.typ == "random:index/randomId:RandomId":
        size = int(inputs.get("byteLength") or 8)
        hex_value = (seed * (size // 32 + 1))[: size * 2]
        raw = bytes.fromhex(hex_value)
        b64 = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        return b64, {
            **inputs,
            "hex": hex_value,
            "b64Url": b64,
            "b64Std": base64.b64encode(raw).decode(),
            "dec": str(int(hex_value, 16)),
        }
    if args.typ == "random:index/randomUuid:RandomUuid":
        uuid_value = stable_uuid("random", args.name)
        return uuid_value, {**inputs, "result": uuid_value}
    if args.typ == "random:index/randomInteger:RandomInteger":
        low, high = int(inputs.get("min") or 0), int(inputs.get("max") or 0)
        number = low + int(seed[:8], 16) % max(high - low + 1, 1)
        return str(number), {**inputs, "result": number}
    return seed[:16], {**inputs, "id": seed[:16]}


# --- invokes -------------------------------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _one_or_many(values: list[Any]) -> Any:
    values = sorted(set(values), key=str)
    return values[0] if len(values) == 1 else values


def render_policy_document(args: Mapping[str, Any]) -> str:
    """aws.iam.get_policy_document rendered the way the provider does (single values as strings)."""
    statements = []
    for raw in args.get("statements") or []:
        statement: dict[str, Any] = {}
        if raw.get("sid"):
            statement["Sid"] = raw["sid"]
        statement["Effect"] = raw.get("effect") or "Allow"
        for key, field in (
            ("Action", "actions"),
            ("NotAction", "notActions"),
            ("Resource", "resources"),
            ("NotResource", "notResources"),
        ):
            if raw.get(field):
                statement[key] = _one_or_many(_as_list(raw[field]))
        for key, field in (("Principal", "principals"), ("NotPrincipal", "notPrincipals")):
            if raw.get(field):
                grouped: dict[str, list[Any]] = {}
                for principal in raw[field]:
                    grouped.setdefault(principal["type"], []).extend(_as_list(principal.get("identifiers")))
                statement[key] = {t: _one_or_many(ids) for t, ids in grouped.items()}
                if statement[key] == {"*": "*"}:
                    statement[key] = "*"
        if raw.get("conditions"):
            condition: dict[str, dict[str, Any]] = {}
            for c in raw["conditions"]:
                condition.setdefault(c["test"], {})[c["variable"]] = _one_or_many(_as_list(c.get("values")))
            statement["Condition"] = condition
        statements.append(statement)
    document: dict[str, Any] = {"Version": args.get("version") or "2012-10-17"}
    if args.get("policyId"):
        document["Id"] = args["policyId"]
    document["Statement"] = statements
    return json.dumps(document, indent=2)


def _availability_zones(target: Target, args: dict[str, Any]) -> dict[str, Any]:
    """The zones an account sees: those an EKS cluster can use plus, where the region has one, the
    zone EKS refuses (as older accounts see it), less the `excludeZoneIds` the caller asked for."""
    region_code = "".join(part[:3] if i == 0 else part[:1] for i, part in enumerate(target.region.split("-")))
    refused = [z for z in EKS_UNSUPPORTED_ZONE_IDS if z.startswith(f"{region_code}-")]
    count = availability_zones(target.region) + len(refused)
    excluded = set(args.get("excludeZoneIds") or [])
    zones = [
        (f"{target.region}{letter}", f"{region_code}-az{i + 1}")
        for i, letter in enumerate("abcdefgh"[:count])
        if f"{region_code}-az{i + 1}" not in excluded
    ]
    return {
        "id": target.region,
        "names": [name for name, _ in zones],
        "zoneIds": [zone_id for _, zone_id in zones],
        "groupNames": [target.region] * len(zones),
        "state": "available",
    }


# --- the mocks -----------------------------------------------------------------------------------


class PlanMocks(Mocks):
    """AWS-, EKS- and Kubernetes-shaped answers, derived from inputs; stack references answered
    from `stack_outputs`."""

    def __init__(self, stack_outputs: Mapping[str, Mapping[str, Any]] | None = None):
        self.stack_outputs = dict(stack_outputs or {})
        self._providers: dict[str, Target] = {}

    # The monitor tells us about providers so resources can inherit their account and region.
    def remember_provider(self, urn: str, inputs: Mapping[str, Any]) -> None:
        self._providers[urn] = target_of_provider(inputs)

    def target(self, provider_ref: str | None) -> Target:
        if provider_ref:
            found = self._providers.get(provider_ref.rsplit("::", 1)[0])  # "<provider urn>::<id>"
            if found is not None:
                return found
        return Target()

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        inputs = dict(args.inputs)
        if args.typ == STACK_REFERENCE:
            return self._stack_reference(args)
        if args.typ.startswith("pulumi:providers:"):
            return stable_uuid("provider", args.typ, args.name), inputs
        if args.typ.startswith("kubernetes:"):
            return kubernetes_outputs(args)
        if args.typ.startswith("random:"):
            return random_outputs(args)
        if args.typ.startswith("aws:"):
            prop, name = physical_name(args)
            if prop is not None and name is not None:
                inputs[prop] = name
            ctx = Ctx(args.typ, args.name, inputs, name or "", self.target(args.provider))
            computed = aws_outputs(ctx)
            ident = computed.pop("id", None) or name or f"{args.name}-{ctx.hex(8)}"
            if args.resource_id:
                ident = args.resource_id
            state = {**inputs, **computed}
            if "tags" in inputs or "tagsAll" in computed:
                state.setdefault("tagsAll", inputs.get("tags") or {})
            return str(ident), state
        prop, name = physical_name(args)
        if prop is not None and name is not None:
            inputs[prop] = name
        return args.resource_id or name or f"{args.name}-{digest(args.typ, args.name, length=8)}", inputs

    def _stack_reference(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        name = str(args.inputs.get("name") or args.resource_id or args.name)
        if name not in self.stack_outputs:
            raise MissingStackReference(name, list(self.stack_outputs))
        outputs = dict(self.stack_outputs[name])
        return name, {"name": name, "outputs": outputs, "secretOutputNames": []}

    def call(self, args: MockCallArgs) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        target = self.target(args.provider)
        a = args.args
        token = args.token
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "id": target.account,
                "accountId": target.account,
                "arn": f"arn:{target.partition}:sts::{target.account}:assumed-role/mlrig-plan/mlrig",
                "userId": f"AROA{digest(target.account, length=17).upper()}:mlrig",
            }, None
        if token == "aws:index/getRegion:getRegion":
            region = a.get("region") or a.get("name") or target.region
            return {
                "id": region,
                "name": region,
                "region": region,
                "endpoint": f"ec2.{region}.{target.dns_suffix}",
                "description": region,
            }, None
        if token == "aws:index/getPartition:getPartition":
            return {
                "id": target.partition,
                "partition": target.partition,
                "dnsSuffix": target.dns_suffix,
                "reverseDnsPrefix": "com.amazonaws",
            }, None
        if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            return _availability_zones(target, args.args), None
        if token == "aws:iam/getPolicyDocument:getPolicyDocument":
            document = render_policy_document(a)
            return {
                "id": digest(document, length=10),
                "json": document,
                "minifiedJson": json.dumps(json.loads(document), separators=(",", ":")),
            }, None
        if token == "aws:eks/getClusterAuth:getClusterAuth":
            name = str(a.get("name", ""))
            return {"id": name, "name": name, "token": f"k8s-aws-v1.{digest('token', name, length=40)}"}, None
        if token == "aws:eks/getAddonVersion:getAddonVersion":
            return {
                "id": str(a.get("addonName", "")),
                "addonName": a.get("addonName"),
                "kubernetesVersion": a.get("kubernetesVersion"),
                "version": "v1.0.0-eksbuild.1",
            }, None
        if token == "aws:ssm/getParameter:getParameter":
            name = str(a.get("name", ""))
            value = f"ami-{digest(name, length=17)}" if "ami" in name else f"{name.rsplit('/', 1)[-1]}"
            return {
                "id": name,
                "name": name,
                "value": value,
                "insecureValue": value,
                "type": "String",
                "arn": f"arn:{target.partition}:ssm:{target.region}:{target.account}:parameter/{name.lstrip('/')}",
                "version": 1,
            }, None
        if token == "aws:iam/getPolicy:getPolicy":
            arn = a.get("arn") or f"arn:{target.partition}:iam::aws:policy/{a.get('name', '')}"
            return {"id": arn, "arn": arn, "name": str(arn).rsplit("/", 1)[-1], "policy": "{}"}, None
        if token in ("github:index/getTeam:getTeam", "github:index/getUser:getUser"):
            # GitHub ids are decimal; derive a stable one from the slug or login.
            key = str(a.get("slug") or a.get("username") or "")
            number = int(digest("github", token, key, length=8), 16) % 10_000_000 + 1
            return {
                "id": str(number),
                "nodeId": f"N_{digest(key, length=12)}",
                "slug": key,
                "username": key,
                "name": key,
            }, None
        return {"id": digest(token, json.dumps(a, sort_keys=True, default=str), length=12)}, None
