"""NAT and availability zones by tier, subnets Karpenter and load balancers can find, private
endpoints, flow logs in prod, and the subnet group project databases use."""

from __future__ import annotations

import pytest
from platform_helpers import one

from mlrig.platform.network import pick_zone, subnet_cidrs

SUBNET = "aws:ec2/subnet:Subnet"
NAT = "aws:ec2/natGateway:NatGateway"


def subnets(plan, kind):
    return [s for s in plan.of_type(SUBNET) if f"-{kind}-" in s["name"]]


def test_dev_spans_two_zones_behind_a_single_nat_gateway(example_plans):
    dev = example_plans["dev"]
    assert len({s["inputs"]["availabilityZone"] for s in subnets(dev, "private")}) == 2
    assert len(dev.of_type(NAT)) == 1


def test_prod_spans_three_zones_with_a_nat_gateway_per_zone(example_plans):
    prod = example_plans["prod"]
    private = subnets(prod, "private")
    assert len({s["inputs"]["availabilityZone"] for s in private}) == 3
    assert len(subnets(prod, "public")) == 3
    nats = prod.of_type(NAT)
    assert len(nats) == 3
    # each zone's private route table egresses through a NAT gateway of its own
    tables = [t for t in prod.of_type("aws:ec2/routeTable:RouteTable") if "-private-" in t["name"]]
    assert len({t["inputs"]["routes"][0]["natGatewayId"] for t in tables}) == 3


def test_staging_follows_the_cheap_layout_unless_the_bundle_says_otherwise(example_plans, minimal_plan):
    assert len(example_plans["staging"].of_type(NAT)) == 1
    # a dev-tier environment that asks for resilience gets it
    assert len(minimal_plan.of_type(NAT)) == 3
    assert len(subnets(minimal_plan, "private")) == 3


def test_private_subnets_are_discoverable_by_karpenter_and_internal_load_balancers(example_plans):
    prod = example_plans["prod"]
    for subnet in subnets(prod, "private"):
        assert subnet["inputs"]["tags"]["karpenter.sh/discovery"] == "acme-ml-prod"
        assert subnet["inputs"]["tags"]["kubernetes.io/role/internal-elb"] == "1"
    for subnet in subnets(prod, "public"):
        assert subnet["inputs"]["tags"]["kubernetes.io/role/elb"] == "1"
        assert subnet["inputs"]["mapPublicIpOnLaunch"] is False
    assert prod.outputs["karpenterDiscovery"] == "acme-ml-prod"


def test_s3_ecr_and_sts_are_reached_through_vpc_endpoints(example_plans):
    endpoints = {
        e["inputs"]["serviceName"]: e["inputs"]["vpcEndpointType"]
        for e in example_plans["dev"].of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
    }
    assert endpoints == {
        "com.amazonaws.us-east-1.s3": "Gateway",
        "com.amazonaws.us-east-1.ecr.api": "Interface",
        "com.amazonaws.us-east-1.ecr.dkr": "Interface",
        "com.amazonaws.us-east-1.sts": "Interface",
    }


def test_flow_logs_record_all_prod_traffic_and_are_off_in_dev(example_plans):
    flow = one(example_plans["prod"], "aws:ec2/flowLog:FlowLog")
    assert flow["inputs"]["trafficType"] == "ALL"
    assert flow["inputs"]["logDestinationType"] == "cloud-watch-logs"
    assert example_plans["dev"].of_type("aws:ec2/flowLog:FlowLog") == []


def test_the_default_security_group_allows_nothing(example_plans):
    group = one(example_plans["dev"], "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    assert group["inputs"].get("ingress", []) == [] and group["inputs"].get("egress", []) == []


def test_project_databases_get_a_subnet_group_in_the_private_subnets(example_plans):
    prod = example_plans["prod"]
    group = one(prod, "aws:rds/subnetGroup:SubnetGroup")
    assert sorted(group["inputs"]["subnetIds"]) == sorted(s["id"] for s in subnets(prod, "private"))
    assert prod.outputs["databaseSubnetGroupName"] == "acme-ml-prod-databases"


def test_subnets_fit_inside_the_vpc_without_overlapping():
    private, public = subnet_cidrs("10.30.0.0/16", 6)
    assert private[0] == "10.30.0.0/20" and public[0] == "10.30.128.0/20"
    assert len(set(private + public)) == 12
    smallest_private, _ = subnet_cidrs("10.0.0.0/24", 2)
    assert smallest_private == ["10.0.0.0/28", "10.0.0.16/28"]


def test_no_subnet_lands_in_a_zone_eks_refuses(example_plans):
    """us-east-1's use1-az3 holds no EKS cluster subnet (CreateCluster fails): the network asks
    for the region's zones without it. The mock account maps use1-az3 to us-east-1c."""
    prod = example_plans["prod"]
    zones = {s["inputs"]["availabilityZone"] for s in subnets(prod, "private") + subnets(prod, "public")}
    assert zones == {"us-east-1a", "us-east-1b", "us-east-1d"}


def test_zones_are_the_regions_available_zones_in_order():
    assert [pick_zone(["us-west-1c", "us-west-1b"], i, "us-west-1") for i in (0, 1)] == ["us-west-1b", "us-west-1c"]
    with pytest.raises(ValueError, match="us-west-1 has 2 availability zones"):
        pick_zone(["us-west-1b", "us-west-1c"], 2, "us-west-1")
