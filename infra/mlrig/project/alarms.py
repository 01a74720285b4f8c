"""CloudWatch alarms for the AWS-side signals of a project (databases, feedback delivery, the
vector search domain), routed to a KMS-encrypted SNS topic; and the (empty) secrets holding
the credentials of Alertmanager's routes. Kubernetes-side alerts (pipeline
failures, latency, drift) are PrometheusRules on the Kubernetes side.

`monitoring.alerts` routes of type `email` subscribe to the topic; routes of type `sns` (a topic
ARN) receive the alarms directly. Other route types are served by Alertmanager."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from .. import naming, tenancy
from ..bundle.model import AlertRoute
from .context import ProjectContext
from .filled_secrets import alert_route_secrets
from .llm import LlmServices
from .tracking import TRACKING_STORAGE_GIB, TrackingStore, max_storage_gib

EVALUATION_PERIOD_SECONDS = 300
CPU_PERCENT = 80
FREE_STORAGE_FRACTION = 0.1
FEEDBACK_FRESHNESS_SECONDS = 900


@dataclass(frozen=True)
class AlarmSpec:
    signal: str
    description: str
    namespace: str
    metric: str
    dimensions: dict[str, pulumi.Input[str]]
    statistic: str
    comparison: str
    threshold: float
    evaluation_periods: int = 3


def database_alarms(signal: str, identifier: pulumi.Input[str], storage_gib: int) -> list[AlarmSpec]:
    """CPU, and free storage below 10% of what storage autoscaling can grow to: RDS grows the
    volume by itself until then, so only nearing the ceiling needs a person."""
    dimensions = {"DBInstanceIdentifier": identifier}
    ceiling_gib = max_storage_gib(storage_gib)
    return [
        AlarmSpec(
            f"{signal}-cpu",
            f"{signal}: CPU above {CPU_PERCENT}% for 15 minutes",
            "AWS/RDS",
            "CPUUtilization",
            dimensions,
            "Average",
            "GreaterThanThreshold",
            CPU_PERCENT,
        ),
        AlarmSpec(
            f"{signal}-storage",
            f"{signal}: less than {int(FREE_STORAGE_FRACTION * 100)}% of the {ceiling_gib} GiB "
            "storage autoscaling maximum free",
            "AWS/RDS",
            "FreeStorageSpace",
            dimensions,
            "Minimum",
            "LessThanThreshold",
            ceiling_gib * 1024**3 * FREE_STORAGE_FRACTION,
            evaluation_periods=1,
        ),
    ]


def feedback_alarms(stream_name: pulumi.Input[str]) -> list[AlarmSpec]:
    dimensions = {"DeliveryStreamName": stream_name}
    return [
        AlarmSpec(
            "feedback-delivery-failures",
            "Human feedback is failing to reach the logs bucket",
            "AWS/Firehose",
            "DeliveryToS3.Success",
            dimensions,
            "Minimum",
            "LessThanThreshold",
            1,
        ),
        AlarmSpec(
            "feedback-delivery-stale",
            f"Human feedback older than {FEEDBACK_FRESHNESS_SECONDS}s is waiting for delivery",
            "AWS/Firehose",
            "DeliveryToS3.DataFreshness",
            dimensions,
            "Maximum",
            "GreaterThanThreshold",
            FEEDBACK_FRESHNESS_SECONDS,
        ),
    ]


def opensearch_alarms(domain: pulumi.Input[str], account: str) -> list[AlarmSpec]:
    return [
        AlarmSpec(
            "vector-search-red",
            "Vector search cluster status is red",
            "AWS/ES",
            "ClusterStatus.red",
            {"DomainName": domain, "ClientId": account},
            "Maximum",
            "GreaterThanOrEqualToThreshold",
            1,
            evaluation_periods=1,
        )
    ]


def own_account_topics(names: naming.ProjectNames, routes: Sequence[AlertRoute]) -> list[str]:
    """The `sns` routes' topics, each in the environment's own account, region and partition
    (`tenancy.sns_problem`): CloudWatch would otherwise publish the project's alarms to a topic
    someone else reads. Validation refuses the others; a topic that got past it is left out."""
    topics = []
    for route in routes:
        if route.type != "sns":
            continue
        problem = tenancy.sns_problem(route.target, account=names.account, region=names.region)
        if problem:
            pulumi.log.warn(f"alert route left out: {problem}")
        else:
            topics.append(route.target)
    return topics


class Alarms(pulumi.ComponentResource):
    topic: aws.sns.Topic

    def __init__(
        self,
        name: str,
        ctx: ProjectContext,
        key_arn: pulumi.Input[str],
        tracking: TrackingStore,
        llm: LlmServices,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("mlrig:project:Alarms", name, None, opts)
        names = ctx.names
        self.topic = aws.sns.Topic(
            naming.project_topic(names, "alerts"),
            name=naming.project_topic(names, "alerts"),
            kms_master_key_id=key_arn,
            opts=ctx.aws_opts(self),
        )
        routes = ctx.env.spec.monitoring.alerts
        for index, route in enumerate(r for r in routes if r.type == "email"):
            aws.sns.TopicSubscription(
                f"{naming.project_topic(names, 'alerts')}-email-{index}",
                topic=self.topic.arn,
                protocol="email",
                endpoint=route.target,
                opts=ctx.aws_opts(self),
            )
        self.route_secrets = self._route_secrets(ctx, key_arn)
        actions: list[pulumi.Input[str]] = [self.topic.arn, *own_account_topics(names, routes)]
        specs = database_alarms("tracking-db", tracking.database.identifier, TRACKING_STORAGE_GIB)
        vdb = ctx.env.spec.llm.vector_database
        if llm.vector_database is not None and vdb is not None:
            specs += database_alarms("vector-db", llm.vector_database.identifier, vdb.storage_gib)
        if llm.opensearch is not None:
            specs += opensearch_alarms(llm.opensearch.domain_name, names.account)
        if llm.feedback_stream is not None:
            specs += feedback_alarms(llm.feedback_stream.name)
        for spec in specs:
            alarm = naming.project_alarm(names, spec.signal)
            aws.cloudwatch.MetricAlarm(
                alarm,
                name=alarm,
                alarm_description=spec.description,
                namespace=spec.namespace,
                metric_name=spec.metric,
                dimensions=spec.dimensions,
                statistic=spec.statistic,
                comparison_operator=spec.comparison,
                threshold=spec.threshold,
                period=EVALUATION_PERIOD_SECONDS,
                evaluation_periods=spec.evaluation_periods,
                treat_missing_data="notBreaching",
                alarm_actions=actions,
                ok_actions=actions,
                opts=ctx.aws_opts(self),
            )
        self.register_outputs({"topicArn": self.topic.arn})

    def _route_secrets(self, ctx: ProjectContext, key_arn: pulumi.Input[str]) -> dict[str, aws.secretsmanager.Secret]:
        """Slack webhook URLs and PagerDuty routing keys, created empty: the platform team sets
        the values; Alertmanager reads them through the External Secrets Operator."""
        return {
            filled.purpose: aws.secretsmanager.Secret(
                f"{ctx.names.prefix}-{filled.purpose.replace('/', '-')}",
                name=ctx.names.secret(filled.purpose),
                description="Alert route credential; the value is set by the platform team (mlrig secrets)",
                kms_key_id=key_arn,
                recovery_window_in_days=ctx.secret_recovery_days,
                opts=ctx.aws_opts(self, stateful=True),
            )
            for filled in alert_route_secrets(ctx.env)
        }
