"""The outputs a platform stack exports and project stacks read through a StackReference.

Both sides use these constants, so a renamed output cannot silently break project stacks.
"""

from __future__ import annotations

CLUSTER_NAME = "clusterName"
CLUSTER_ENDPOINT = "clusterEndpoint"
CLUSTER_CA = "clusterCertificateAuthority"  # base64 PEM, as EKS returns it
CLUSTER_VERSION = "clusterVersion"
CLUSTER_SECURITY_GROUP_ID = "clusterSecurityGroupId"
OIDC_ISSUER_URL = "oidcIssuerUrl"  # the cluster's IRSA issuer
VPC_ID = "vpcId"
VPC_CIDR = "vpcCidr"
PRIVATE_SUBNET_IDS = "privateSubnetIds"
PUBLIC_SUBNET_IDS = "publicSubnetIds"
DATABASE_SUBNET_GROUP = "databaseSubnetGroupName"  # RDS subnet group in the private subnets
NODE_ROLE_NAME = "nodeRoleName"  # Karpenter node role (EC2_LINUX access entry)
NODE_ROLE_ARN = "nodeRoleArn"
KARPENTER_DISCOVERY = "karpenterDiscovery"  # value of the karpenter.sh/discovery tag on subnets and SGs
GITHUB_OIDC_PROVIDER_ARN = "githubOidcProviderArn"
ACCOUNT_ID = "accountId"
REGION = "region"
ENVIRONMENT_NAMESPACE_PREFIX = "namespacePrefix"  # "" or "<env>-" under namespace isolation
ADDONS = "addons"  # {"karpenter": true, "kserve": true, ...}: which add-ons are installed
MONITORING_NAMESPACE = "monitoringNamespace"
INGRESS_NAMESPACE = "ingressNamespace"
DEPLOYMENT_ROLE_ARN = "deploymentRoleArn"

ALL = (
    CLUSTER_NAME,
    CLUSTER_ENDPOINT,
    CLUSTER_CA,
    CLUSTER_VERSION,
    CLUSTER_SECURITY_GROUP_ID,
    OIDC_ISSUER_URL,
    VPC_ID,
    VPC_CIDR,
    PRIVATE_SUBNET_IDS,
    PUBLIC_SUBNET_IDS,
    DATABASE_SUBNET_GROUP,
    NODE_ROLE_NAME,
    NODE_ROLE_ARN,
    KARPENTER_DISCOVERY,
    GITHUB_OIDC_PROVIDER_ARN,
    ACCOUNT_ID,
    REGION,
    ENVIRONMENT_NAMESPACE_PREFIX,
    ADDONS,
    MONITORING_NAMESPACE,
    INGRESS_NAMESPACE,
    DEPLOYMENT_ROLE_ARN,
)


def platform_stack_reference(platform: str, environment: str, organization: str = "organization") -> str:
    """Fully qualified stack name. Self-managed backends (S3) use the literal org `organization`."""
    return f"{organization}/mlrig/{platform}.{environment}"
