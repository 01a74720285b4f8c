"""LLMOps additions, AWS side: the vector database, the gateway's provider-key secrets and
human-feedback capture (Kinesis Firehose into the logs bucket, partitioned by date).

Provider keys are created empty (`filled_secrets.py`): the platform team sets each value once
(`mlrig secrets` prints the commands); mlrig never sees them, and nothing waits for them."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from .. import naming
from . import vector_search
from .context import ProjectContext
from .filled_secrets import FilledSecret, gateway_secrets, model_hub_secrets
from .identity import Identity, policy_document
from .storage import Storage
from .tracking import POSTGRES_PORT, DatabaseConnection, PostgresDatabase

OPENSEARCH_ENGINE_VERSION = "OpenSearch_2.17"
FEEDBACK_PREFIX = f"{naming.LOG_PREFIXES['feedback']}!{{timestamp:yyyy/MM/dd}}/"
FEEDBACK_ERROR_PREFIX = (
    f"{naming.LOG_PREFIXES['feedback']}errors/!{{firehose:error-output-type}}/!{{timestamp:yyyy/MM/dd}}/"
)
# The workload that puts feedback into the stream (the collector; serving and the gateway post
# feedback to it over HTTP). Who uses the vector database: vector_search.py.
FEEDBACK_PRODUCER_TYPES = ("feedback",)


class LlmServices(pulumi.ComponentResource):
    vector_connection: DatabaseConnection | None
    vector_database: aws.rds.Instance | None
    opensearch: aws.opensearch.Domain | None
    gateway_secrets: dict[str, aws.secretsmanager.Secret]
    hub_secrets: list[aws.secretsmanager.Secret]
    feedback_stream: aws.kinesis.FirehoseDeliveryStream | None

    def __init__(
        self,
        name: str,
        ctx: ProjectContext,
        identity: Identity,
        storage: Storage,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("mlrig:project:Llm", name, None, opts)
        self._ctx = ctx
        self._identity = identity
        key_arn = storage.key.arn
        llm = ctx.env.spec.llm
        self.vector_connection = None
        self.vector_database = None
        self.opensearch = None
        vdb = llm.vector_database
        if vdb is not None and vdb.engine == "pgvector":
            store = PostgresDatabase(
                "vector-db",
                ctx,
                purpose="vectors",
                secret_purpose="vector-db",
                database_name="vectors",
                instance_class=vdb.instance_class or "db.t4g.medium",
                storage_gib=vdb.storage_gib,
                key_arn=key_arn,
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.vector_database = store.instance
            self.vector_connection = store.connection
        elif vdb is not None:
            self.opensearch = self._opensearch(vdb.instance_class or "t3.medium.search", vdb.storage_gib, key_arn)
        # Created empty: a person fills each one (`mlrig secrets`); mlrig never sees the keys.
        self.gateway_secrets = {
            filled.purpose.rsplit("/", 1)[1]: self._filled_secret(
                f"{ctx.names.prefix}-gateway-{filled.purpose.rsplit('/', 1)[1]}", filled, key_arn
            )
            for filled in gateway_secrets(ctx.env)
        }
        # The model hub's Hugging Face token: created empty like the provider keys.
        self.hub_secrets = [
            self._filled_secret(f"{ctx.names.prefix}-{filled.purpose.replace('/', '-')}", filled, key_arn)
            for filled in model_hub_secrets(ctx.env)
        ]
        self.feedback_stream = self._feedback(storage) if llm.feedback.enabled else None
        self.register_outputs(
            {
                "gatewaySecrets": {p: s.name for p, s in self.gateway_secrets.items()},
                "feedbackStream": self.feedback_stream.name if self.feedback_stream else None,
            }
        )

    def _clients(self, types: tuple[str, ...]) -> dict[str, aws.iam.Role]:
        return {w: self._identity.workloads[w] for w, t in self._ctx.workloads().items() if t in types}

    def _filled_secret(self, name: str, filled: FilledSecret, key_arn: pulumi.Input[str]) -> aws.secretsmanager.Secret:
        ctx = self._ctx
        return aws.secretsmanager.Secret(
            name,
            name=ctx.names.secret(filled.purpose),
            description=f"{filled.description}; the value is set by the platform team (mlrig secrets)",
            kms_key_id=key_arn,
            recovery_window_in_days=ctx.secret_recovery_days,
            opts=ctx.aws_opts(self, stateful=True),
        )

    def _opensearch(self, instance_type: str, storage_gib: int, key_arn: pulumi.Input[str]) -> aws.opensearch.Domain:
        """Encrypted at rest and between nodes, HTTPS only, inside the VPC, fine-grained access
        with IAM principals: the index-refresh (write) and serving (read) workloads, and the
        master user `vector-admin` on the security API (see vector_search.py)."""
        ctx, names = self._ctx, self._ctx.names
        prod = ctx.tier == "prod"
        nodes = 2 if prod else 1
        domain_name = names.opensearch_domain()
        security_group = aws.ec2.SecurityGroup(
            f"{domain_name}-sg",
            name=naming.project_security_group(names, "vectors"),
            description=f"OpenSearch {domain_name}: HTTPS from the cluster only",
            vpc_id=ctx.platform.vpc_id,
            opts=ctx.aws_opts(self),
        )
        aws.vpc.SecurityGroupIngressRule(
            f"{domain_name}-https-from-cluster",
            security_group_id=security_group.id,
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            referenced_security_group_id=ctx.platform.cluster_security_group_id,
            opts=ctx.aws_opts(self),
        )
        # The master user and the clients the domain access policy names must exist first.
        principals = [self._identity.workloads[w] for w in [naming.VECTOR_ADMIN, *vector_search.clients(ctx.env)]]
        access = vector_search.domain_access_statements(ctx.env, names)
        return aws.opensearch.Domain(
            domain_name,
            domain_name=domain_name,
            engine_version=OPENSEARCH_ENGINE_VERSION,
            cluster_config=aws.opensearch.DomainClusterConfigArgs(
                instance_type=instance_type, instance_count=nodes, zone_awareness_enabled=prod
            ),
            ebs_options=aws.opensearch.DomainEbsOptionsArgs(
                ebs_enabled=True, volume_size=storage_gib, volume_type="gp3"
            ),
            encrypt_at_rest=aws.opensearch.DomainEncryptAtRestArgs(enabled=True, kms_key_id=key_arn),
            node_to_node_encryption=aws.opensearch.DomainNodeToNodeEncryptionArgs(enabled=True),
            domain_endpoint_options=aws.opensearch.DomainDomainEndpointOptionsArgs(
                enforce_https=True, tls_security_policy="Policy-Min-TLS-1-2-PFS-2023-10"
            ),
            vpc_options=aws.opensearch.DomainVpcOptionsArgs(
                subnet_ids=pulumi.Output.from_input(ctx.platform.private_subnet_ids).apply(
                    lambda ids: list(ids)[:nodes]
                ),
                security_group_ids=[security_group.id],
            ),
            advanced_security_options=aws.opensearch.DomainAdvancedSecurityOptionsArgs(
                enabled=True,
                anonymous_auth_enabled=False,
                internal_user_database_enabled=False,
                # A role mlrig creates for this only, never a person: the Job that maps the
                # workload roles to OpenSearch security roles runs as it (vector_search.py).
                master_user_options=aws.opensearch.DomainAdvancedSecurityOptionsMasterUserOptionsArgs(
                    master_user_arn=self._identity.workloads[naming.VECTOR_ADMIN].arn
                ),
            ),
            access_policies=policy_document(access),
            opts=ctx.aws_opts(self, stateful=True, depends_on=principals),
        )

    def _feedback(self, storage: Storage) -> aws.kinesis.FirehoseDeliveryStream:
        """Feedback records land in `logs/feedback/yyyy/MM/dd/`, compressed and KMS-encrypted;
        only the feedback collector may put records."""
        ctx, names = self._ctx, self._ctx.names
        role = self._identity.feedback
        assert role is not None  # created by Identity whenever feedback is enabled
        key_arn = storage.key.arn
        stream = aws.kinesis.FirehoseDeliveryStream(
            names.firehose("feedback"),
            name=names.firehose("feedback"),
            destination="extended_s3",
            server_side_encryption=aws.kinesis.FirehoseDeliveryStreamServerSideEncryptionArgs(
                enabled=True, key_type="CUSTOMER_MANAGED_CMK", key_arn=key_arn
            ),
            extended_s3_configuration=aws.kinesis.FirehoseDeliveryStreamExtendedS3ConfigurationArgs(
                role_arn=role.arn,
                bucket_arn=storage.buckets["logs"].arn,
                prefix=FEEDBACK_PREFIX,
                error_output_prefix=FEEDBACK_ERROR_PREFIX,
                buffering_interval=300,
                buffering_size=64,
                compression_format="GZIP",
                kms_key_arn=key_arn,
            ),
            opts=ctx.aws_opts(self, depends_on=[role, storage]),
        )
        for workload, client in self._clients(FEEDBACK_PRODUCER_TYPES).items():
            aws.iam.RolePolicy(
                f"{names.workload_role(workload)}-send-feedback",
                role=client.name,
                name="send-feedback",
                policy=policy_document(
                    [
                        {
                            "Sid": "SendFeedback",
                            "Effect": "Allow",
                            "Action": [
                                "firehose:DescribeDeliveryStream",
                                "firehose:PutRecord",
                                "firehose:PutRecordBatch",
                            ],
                            "Resource": stream.arn,
                        }
                    ]
                ),
                opts=ctx.aws_opts(self),
            )
        return stream


__all__ = ["POSTGRES_PORT", "LlmServices"]
