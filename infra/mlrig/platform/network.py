"""Network: the environment's VPC — public and private subnets over several AZs, NAT sized by tier,
private endpoints for S3/ECR/STS, flow logs, and the DB subnet group project databases use."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from functools import partial

import pulumi
import pulumi_aws as aws

from .. import naming
from ..aws_catalog import EKS_UNSUPPORTED_ZONE_IDS
from ..bundle.model import NetworkSettings
from .context import PlatformTarget, policy_document, service_trust

INTERFACE_ENDPOINTS = ("ecr.api", "ecr.dkr", "sts")
FLOW_LOG_RETENTION_DAYS = 365


def pick_zone(names: Sequence[str], index: int, region: str) -> str:
    """The index-th zone of the region an EKS cluster can use (zone letters differ by region and
    account). `mlrig preflight` picks the same zones (`checks/preflight.py`)."""
    if index >= len(names):
        raise ValueError(
            f"{region} has {len(names)} availability zones an EKS cluster can use in this account; "
            "the network asks for more: lower `network.availabilityZones`"
        )
    return sorted(names)[index]


def subnet_cidrs(cidr: str, zones: int) -> tuple[list[str], list[str]]:
    """(private, public) CIDRs: the VPC is cut into 16 equal blocks; private subnets take the first
    half (large, for pods), public subnets the second (load balancers, NAT)."""
    vpc = ipaddress.IPv4Network(cidr)
    blocks = list(vpc.subnets(new_prefix=vpc.prefixlen + 4))
    return [str(b) for b in blocks[:zones]], [str(b) for b in blocks[8 : 8 + zones]]


class Network(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    vpc_cidr: str
    private_subnet_ids: list[pulumi.Output[str]]
    public_subnet_ids: list[pulumi.Output[str]]
    database_subnet_group_name: pulumi.Output[str]

    def __init__(self, name: str, target: PlatformTarget, settings: NetworkSettings, *, cluster_name: str) -> None:
        super().__init__("mlrig:platform:Network", name, None, pulumi.ResourceOptions(provider=target.aws_provider))
        self._target = target
        self._prefix = name
        assert settings.cidr and settings.availability_zones and settings.nat_gateways
        self.vpc_cidr = settings.cidr
        available = aws.get_availability_zones_output(
            state="available",
            # regular zones only: Local and Wavelength zones are opt-in and lack most services
            filters=[aws.GetAvailabilityZonesFilterArgs(name="opt-in-status", values=["opt-in-not-required"])],
            # nor the zones EKS refuses for cluster subnets (the cluster would fail to create)
            exclude_zone_ids=list(EKS_UNSUPPORTED_ZONE_IDS),
            opts=pulumi.InvokeOutputOptions(provider=target.aws_provider, parent=self),
        )
        region = target.env.region
        zones = [f"az{i + 1}" for i in range(settings.availability_zones)]
        zone_name = {
            zone: available.names.apply(partial(pick_zone, index=i, region=region)) for i, zone in enumerate(zones)
        }
        discovery = naming.karpenter_discovery(cluster_name)

        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=settings.cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={"Name": name},
            opts=target.aws_opts(self),
        )
        self.vpc_id = vpc.id
        self._lock_default_security_group(vpc)
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags={"Name": name}, opts=target.aws_opts(self))

        private_cidrs, public_cidrs = subnet_cidrs(settings.cidr, len(zones))
        public = [
            aws.ec2.Subnet(
                f"{name}-public-{zone}",
                vpc_id=vpc.id,
                cidr_block=cidr,
                availability_zone=zone_name[zone],
                map_public_ip_on_launch=False,
                tags={"Name": f"{name}-public-{zone}", "kubernetes.io/role/elb": "1"},
                opts=target.aws_opts(self),
            )
            for zone, cidr in zip(zones, public_cidrs, strict=True)
        ]
        private = [
            aws.ec2.Subnet(
                f"{name}-private-{zone}",
                vpc_id=vpc.id,
                cidr_block=cidr,
                availability_zone=zone_name[zone],
                tags={
                    "Name": f"{name}-private-{zone}",
                    "kubernetes.io/role/internal-elb": "1",
                    "karpenter.sh/discovery": discovery,
                },
                opts=target.aws_opts(self),
            )
            for zone, cidr in zip(zones, private_cidrs, strict=True)
        ]
        self.public_subnet_ids = [s.id for s in public]
        self.private_subnet_ids = [s.id for s in private]

        self._public_routes(vpc, igw, dict(zip(zones, public, strict=True)))
        private_tables = self._private_routes(vpc, public, zones, per_az=settings.nat_gateways == "per-az")
        self._associate("private", dict(zip(zones, private, strict=True)), private_tables)
        self._endpoints(vpc, private_tables)
        if settings.flow_logs:
            self._flow_logs(vpc)
        subnet_group = aws.rds.SubnetGroup(
            f"{name}-databases",
            name=naming.database_subnet_group(target.platform.name, target.env.name),
            description="Private subnets for project databases (MLflow, pgvector)",
            subnet_ids=self.private_subnet_ids,
            opts=target.aws_opts(self),
        )
        self.database_subnet_group_name = subnet_group.name
        self.register_outputs(
            {
                "vpcId": self.vpc_id,
                "privateSubnetIds": self.private_subnet_ids,
                "publicSubnetIds": self.public_subnet_ids,
                "databaseSubnetGroupName": self.database_subnet_group_name,
            }
        )

    def _lock_default_security_group(self, vpc: aws.ec2.Vpc) -> None:
        """The default security group allows all traffic between members; take every rule away."""
        aws.ec2.DefaultSecurityGroup(
            f"{self._prefix}-default-sg", vpc_id=vpc.id, ingress=[], egress=[], opts=self._target.aws_opts(self)
        )

    def _associate(self, kind: str, subnets: dict[str, aws.ec2.Subnet], tables: list[aws.ec2.RouteTable]) -> None:
        for (zone, subnet), table in zip(subnets.items(), tables, strict=True):
            aws.ec2.RouteTableAssociation(
                f"{self._prefix}-{kind}-{zone}",
                subnet_id=subnet.id,
                route_table_id=table.id,
                opts=self._target.aws_opts(self),
            )

    def _public_routes(self, vpc: aws.ec2.Vpc, igw: aws.ec2.InternetGateway, public: dict[str, aws.ec2.Subnet]) -> None:
        table = aws.ec2.RouteTable(
            f"{self._prefix}-public",
            vpc_id=vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=igw.id)],
            tags={"Name": f"{self._prefix}-public"},
            opts=self._target.aws_opts(self),
        )
        self._associate("public", public, [table] * len(public))

    def _private_routes(
        self, vpc: aws.ec2.Vpc, public: list[aws.ec2.Subnet], zones: list[str], *, per_az: bool
    ) -> list[aws.ec2.RouteTable]:
        """One NAT gateway (dev: cheap) or one per zone (prod: a zone outage keeps egress)."""
        nat_zones = zones if per_az else zones[:1]
        nats = []
        for zone, subnet in zip(nat_zones, public, strict=False):
            eip = aws.ec2.Eip(
                f"{self._prefix}-nat-{zone}",
                domain="vpc",
                tags={"Name": f"{self._prefix}-nat-{zone}"},
                opts=self._target.aws_opts(self),
            )
            nats.append(
                aws.ec2.NatGateway(
                    f"{self._prefix}-nat-{zone}",
                    allocation_id=eip.id,
                    subnet_id=subnet.id,
                    tags={"Name": f"{self._prefix}-nat-{zone}"},
                    opts=self._target.aws_opts(self),
                )
            )
        tables = []
        for index, zone in enumerate(zones):
            nat = nats[index] if per_az else nats[0]
            table = aws.ec2.RouteTable(
                f"{self._prefix}-private-{zone}",
                vpc_id=vpc.id,
                routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nat.id)],
                tags={"Name": f"{self._prefix}-private-{zone}"},
                opts=self._target.aws_opts(self),
            )
            tables.append(table)
        return tables

    def _endpoints(self, vpc: aws.ec2.Vpc, tables: list[aws.ec2.RouteTable]) -> None:
        """S3 through a free gateway endpoint; ECR and STS privately, so image pulls and Pod
        Identity token exchanges do not pay for or depend on NAT."""
        region = self._target.env.region
        aws.ec2.VpcEndpoint(
            f"{self._prefix}-s3",
            vpc_id=vpc.id,
            service_name=f"com.amazonaws.{region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=[t.id for t in tables],
            tags={"Name": f"{self._prefix}-s3"},
            opts=self._target.aws_opts(self),
        )
        endpoint_sg = aws.ec2.SecurityGroup(
            f"{self._prefix}-endpoints",
            vpc_id=vpc.id,
            description="HTTPS from the VPC to interface endpoints",
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(
                    protocol="tcp",
                    from_port=443,
                    to_port=443,
                    cidr_blocks=[self.vpc_cidr],
                    description="HTTPS from the VPC",
                )
            ],
            tags={"Name": f"{self._prefix}-endpoints"},
            opts=self._target.aws_opts(self),
        )
        for service in INTERFACE_ENDPOINTS:
            aws.ec2.VpcEndpoint(
                f"{self._prefix}-{service.replace('.', '-')}",
                vpc_id=vpc.id,
                service_name=f"com.amazonaws.{region}.{service}",
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=self.private_subnet_ids,
                security_group_ids=[endpoint_sg.id],
                tags={"Name": f"{self._prefix}-{service}"},
                opts=self._target.aws_opts(self),
            )

    def _flow_logs(self, vpc: aws.ec2.Vpc) -> None:
        target = self._target
        group = aws.cloudwatch.LogGroup(
            f"{self._prefix}-flow-logs",
            name=naming.flow_log_group(target.platform.name, target.env.name),
            retention_in_days=FLOW_LOG_RETENTION_DAYS,
            opts=target.aws_opts(self, stateful=True),
        )
        role = aws.iam.Role(
            f"{self._prefix}-flow-logs",
            name=naming.flow_log_role(target.platform.name, target.env.name),
            assume_role_policy=service_trust("vpc-flow-logs.amazonaws.com"),
            opts=target.aws_opts(self),
        )
        aws.iam.RolePolicy(
            f"{self._prefix}-flow-logs",
            role=role.id,
            policy=policy_document(
                [
                    {
                        "Effect": "Allow",
                        "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                        "Resource": [group.arn, pulumi.Output.concat(group.arn, ":*")],
                    }
                ]
            ),
            opts=target.aws_opts(self),
        )
        aws.ec2.FlowLog(
            f"{self._prefix}-flow-logs",
            vpc_id=vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=60,
            opts=target.aws_opts(self),
        )
