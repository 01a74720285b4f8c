"""The project's workspace in the cluster: namespace, quota, default limits, network policies,
workload service accounts, and who may do what in it (EKS access entries + RBAC by tier).

The access table (Table 1 of the Big Book of MLOps) is `CLUSTER_ROLES`: read it as "in this tier, this persona's
Kubernetes group is bound to this ClusterRole in the namespace".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, cast

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from .. import naming, promotion, tenancy
from ..bundle.model import ProjectSpec
from ..hub import hub_models
from ..platform.cluster import SYSTEM_TAINT_KEY
from ..pool_sizing import node_capacity
from .context import ProjectContext, reads_pgvector
from .handoff import Prerequisites
from .kube import EXTERNAL_SECRETS_API, SECRET_STORE, addons_of, cpu_cores, memory_gib, metadata, secret_store_spec
from .monitoring_rules import ALERT_SECRET, scrape_targets
from .pools import OWNER_KEY, pool_nodes, slices_per_node
from .queues import queueing_active
from .serving import MODEL_CACHE_SIZE

# Persona → ClusterRole in the namespace, per tier. `view` cannot read Secrets nor change
# anything; `edit` changes workloads; `admin` also manages Roles in the namespace. Prod is
# changed only by the CI deployer.
CLUSTER_ROLES: dict[str, dict[str, str]] = {
    "dev": {"data-scientist": "edit", "ml-engineer": "edit", "ci-deployer": "admin"},
    "staging": {"data-scientist": "view", "ml-engineer": "edit", "ci-deployer": "admin"},
    "prod": {"data-scientist": "view", "ml-engineer": "view", "ci-deployer": "admin"},
}

# Volumes a namespace may claim (`requests.storage`): the model hub's static claim (S3 through
# Mountpoint; it costs nothing, but the quota counts its nominal size) plus an allowance for the
# volumes a team claims itself. Without the bound, `edit` (a data scientist in dev) claims 20
# volumes of the largest size a StorageClass of the cluster provisions (16 TiB of gp2 each):
# EBS volumes of hundreds of TiB, billed to the shared account and tagged with no project.
VOLUME_ALLOWANCE_GIB = 1024

# Container defaults when a pod does not say (the quota requires requests and limits).
DEFAULT_REQUEST = {"cpu": "250m", "memory": "512Mi"}
DEFAULT_LIMIT = {"cpu": "1", "memory": "2Gi"}

# EKS Pod Identity agent: pods fetch their AWS credentials from this link-local address.
POD_IDENTITY_AGENT_CIDR = "169.254.170.23/32"


# --- workloads and sizes ----------------------------------------------------------------------------------


def workload_names(spec: ProjectSpec, *, imports_models: bool = False) -> list[str]:
    """Every workload with its own service account (and Pod Identity association).
    `imports_models`: the model-deployment pipeline imports its candidate (`mlrig.promotion`)."""
    names = list(spec.pipelines)
    if spec.serving.endpoints:
        names.append("serving")
    names.append("tracking")
    if spec.llm.gateway is not None:
        names.append("gateway")
    if spec.llm.feedback.enabled:
        names.append("feedback")
    vector_database = spec.llm.vector_database
    if (vector_database is not None and vector_database.engine == "opensearch") or reads_pgvector(spec):
        names.append(naming.VECTOR_ADMIN)
    if hub_models(spec):
        names.append(naming.MODEL_HUB)
    if imports_models:
        names.append(naming.MODEL_IMPORT)
    return names


def unpooled_demand(spec: ProjectSpec) -> tuple[float, float]:
    """(cores, GiB) that endpoints and pipelines without a pool may use on the general nodes at
    their maximum (endpoints with a traffic split or a shadow run two InferenceServices)."""
    cores = memory = 0.0
    for endpoint in spec.serving.endpoints:
        if endpoint.pool is None:
            copies = endpoint.autoscaling.max_replicas * (1 if endpoint.rollout.strategy == "direct" else 2)
            cores += copies * cpu_cores(endpoint.resources.cpu)
            memory += copies * memory_gib(endpoint.resources.memory)
    for pipeline in spec.pipelines.values():
        if pipeline.pool is None:
            cores += pipeline.workers * cpu_cores(pipeline.resources.cpu)
            memory += pipeline.workers * memory_gib(pipeline.resources.memory)
    return cores, memory


def quota_hard(spec: ProjectSpec) -> dict[str, str]:
    """The namespace's quota: what its pools can hold at `max`, what runs unpooled at its
    maximum, plus the general allowance (tracking server, gateway, loggers, pipeline gates)."""
    unpooled_cpu, unpooled_memory = unpooled_demand(spec)
    general_cpu, general_memory = tenancy.general_allowance(spec)
    cpu = general_cpu + math.ceil(unpooled_cpu)
    memory = general_memory + math.ceil(unpooled_memory)
    gpus = 0
    for pool in spec.compute.pools:
        node_cpu, node_memory = node_capacity(pool)
        nodes = pool_nodes(pool, spec)
        cpu += nodes * node_cpu
        memory += nodes * node_memory
        # GPUs as pods request them: a time-sliced or MIG node advertises its slices.
        gpus += nodes * slices_per_node(pool)
    return {
        "requests.cpu": str(cpu),
        "limits.cpu": str(cpu),
        "requests.memory": f"{memory}Gi",
        "limits.memory": f"{memory}Gi",
        "requests.nvidia.com/gpu": str(gpus),
        "persistentvolumeclaims": "20",
        "requests.storage": f"{math.ceil(memory_gib(MODEL_CACHE_SIZE)) + VOLUME_ALLOWANCE_GIB}Gi",
        "services.loadbalancers": "0",
        "services.nodeports": "0",
    }


# --- network policies -----------------------------------------------------------------------


def namespace_selector(name: pulumi.Input[str]) -> dict[str, Any]:
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}}}


def network_policies(ctx: ProjectContext) -> dict[str, dict[str, Any]]:
    """Default deny, then each allowed flow as its own named policy (they add up)."""
    everything: dict[str, Any] = {}
    return {
        "default-deny": {"podSelector": everything, "policyTypes": ["Ingress", "Egress"]},
        "allow-same-namespace": {
            "podSelector": everything,
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": [{"podSelector": everything}]}],
            "egress": [{"to": [{"podSelector": everything}]}],
        },
        "allow-dns": {
            "podSelector": everything,
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [
                        {**namespace_selector("kube-system"), "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}
                    ],
                    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                }
            ],
        },
        # The shared Prometheus reaches only the pods it scrapes, on their metrics port: the
        # monitoring namespace also runs Alertmanager, whose webhooks must not reach the project.
        **{
            f"allow-from-monitoring-{target.name}": {
                "podSelector": target.selector,
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [namespace_selector(ctx.platform.monitoring_namespace)],
                        "ports": [{"protocol": "TCP", "port": target.port}],
                    }
                ],
            }
            for target in scrape_targets(ctx.env.spec)
        },
        "allow-from-ingress": {
            "podSelector": everything,
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [namespace_selector(ctx.platform.ingress_namespace)]}],
        },
        # AWS APIs (S3, STS, ECR, Secrets Manager, Firehose), the Kubernetes API and, for the
        # gateway, third-party LLM APIs: HTTPS only.
        "allow-https-egress": {
            "podSelector": everything,
            "policyTypes": ["Egress"],
            "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"protocol": "TCP", "port": 443}]}],
        },
        # Pod Identity credentials (plain HTTP on a link-local address).
        "allow-pod-identity-agent": {
            "podSelector": everything,
            "policyTypes": ["Egress"],
            "egress": [
                {"to": [{"ipBlock": {"cidr": POD_IDENTITY_AGENT_CIDR}}], "ports": [{"protocol": "TCP", "port": 80}]}
            ],
        },
        # The project's databases (MLflow backend store, pgvector) live in the VPC.
        "allow-postgres-in-vpc": {
            "podSelector": everything,
            "policyTypes": ["Egress"],
            "egress": [
                {"to": [{"ipBlock": {"cidr": ctx.platform.vpc_cidr}}], "ports": [{"protocol": "TCP", "port": 5432}]}
            ],
        },
    }


# --- secrets stay within the project ---------------------------------------------------------

ADMISSION_API = "admissionregistration.k8s.io/v1"


def _cel_list(values: Sequence[str]) -> str:
    return "[" + ", ".join("'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'" for v in values) + "]"


def external_secret_rules(secret_prefix: str, store: str, exact_keys: Sequence[str] = ()) -> list[dict[str, str]]:
    """CEL rules for ExternalSecrets in the namespace. The External Secrets controller reads every
    `mlrig/*` secret and every RDS-managed master secret, so without them anyone who may create an
    ExternalSecret here (a data scientist in dev) could copy another project's secrets into this
    namespace. `exact_keys` are the only other secrets allowed: this environment's own database
    master secrets, by ARN (RDS names them, so they cannot live under the prefix)."""
    key_ok = f"startsWith('{secret_prefix}')"
    data_key_ok = (
        f"(d.remoteRef.key.{key_ok} || d.remoteRef.key in {_cel_list(exact_keys)})"
        if exact_keys
        else f"d.remoteRef.key.{key_ok}"
    )
    return [
        {
            "expression": (
                f"has(object.spec.secretStoreRef) && object.spec.secretStoreRef.name == '{store}' && "
                "(!has(object.spec.secretStoreRef.kind) || object.spec.secretStoreRef.kind == 'SecretStore')"
            ),
            "message": f"ExternalSecrets here must use the namespace's SecretStore '{store}'",
        },
        {
            "expression": f"!has(object.spec.data) || object.spec.data.all(d, !has(d.sourceRef) && {data_key_ok})",
            "message": f"ExternalSecrets here may only read secrets under {secret_prefix} and their own databases'",
        },
        {
            "expression": (
                "!has(object.spec.dataFrom) || object.spec.dataFrom.all(d, !has(d.sourceRef) && !has(d.find) "
                f"&& has(d.extract) && d.extract.key.{key_ok})"
            ),
            "message": f"ExternalSecrets here may only extract secrets under {secret_prefix}",
        },
    ]


def admission_policy_spec(
    api_group: str, resources: Sequence[str], validations: list[dict[str, str]], api_versions: Sequence[str] = ("*",)
) -> dict[str, Any]:
    """A ValidatingAdmissionPolicy spec that refuses, on create and update of `resources`, what
    fails one of `validations` (fail closed: an unanswerable policy refuses)."""
    return {
        "failurePolicy": "Fail",
        "matchConstraints": {
            "resourceRules": [
                {
                    "apiGroups": [api_group],
                    "apiVersions": list(api_versions),
                    "operations": ["CREATE", "UPDATE"],
                    "resources": list(resources),
                }
            ]
        },
        "validations": validations,
    }


def external_secret_policy_spec(secret_prefix: str, store: str, exact_keys: Sequence[str] = ()) -> dict[str, Any]:
    return admission_policy_spec(
        "external-secrets.io", ["externalsecrets"], external_secret_rules(secret_prefix, store, exact_keys)
    )


# What a SecretStore in a project namespace may hold besides its provider.
SECRET_STORE_FIELDS = ("provider", "refreshInterval", "retrySettings")


def secret_store_rules(region: str) -> list[dict[str, str]]:
    """CEL rules for SecretStores in the namespace. Whoever may create an ExternalSecret here may
    edit the namespace's SecretStore too (the External Secrets chart aggregates both into `edit`),
    and the ExternalSecret rules pin only which store is named, not what it is: a `webhook` store
    made the controller, in the platform's namespace, fetch (or POST to) any URL and write the
    answer into this namespace, past every NetworkPolicy; an AWS store with a `role` or `auth`
    would act as someone else. So a store here is AWS Secrets Manager in the environment's region,
    with the controller's own identity, as `secret_store_spec` writes it."""
    return [
        {
            "expression": f"object.spec.all(k, k in {_cel_list(SECRET_STORE_FIELDS)})",
            "message": f"SecretStores here hold only {', '.join(SECRET_STORE_FIELDS)}",
        },
        {
            "expression": (
                "object.spec.provider.size() == 1 && has(object.spec.provider.aws) && "
                "object.spec.provider.aws.all(k, k in ['service', 'region']) && "
                f"object.spec.provider.aws.service == 'SecretsManager' && object.spec.provider.aws.region == '{region}'"
            ),
            "message": (
                f"SecretStores here read AWS Secrets Manager in {region} with the controller's own identity "
                "(no other provider, role, auth or prefix)"
            ),
        },
    ]


def secret_store_policy_spec(region: str) -> dict[str, Any]:
    return admission_policy_spec("external-secrets.io", ["secretstores"], secret_store_rules(region))


def push_secret_policy_spec() -> dict[str, Any]:
    """PushSecrets write to Secrets Manager with the controller's identity (which seeds the
    platform's own generated secrets): no project namespace may create one."""
    refused = "PushSecrets are not allowed in project namespaces: secrets are filled in Secrets Manager"
    return admission_policy_spec("external-secrets.io", ["pushsecrets"], [{"expression": "false", "message": refused}])


# --- pods stay on the project's own nodes -------------------------------------------------------


# Any ECR registry, whatever the endpoint kubelet's credential provider serves and however it is
# spelt (`<account>.dkr.ecr.<region>.amazonaws.com[.cn]`, `….dkr.ecr-fips.…`, the dual-stack
# `<account>.dkr-ecr.<region>.on.aws`, host names being case-insensitive): an RE2 pattern,
# written into the CEL expression as a raw string.
ECR_IMAGE = r"(?i)^[^/]*dkr[.-]ecr"
POD_CONTAINER_FIELDS = ("containers", "initContainers", "ephemeralContainers")


def every_container_image(condition: str) -> str:
    """A CEL expression: `condition` (over a container `c`) holds for every container of the pod
    that names an image, ephemeral and init containers included."""
    return " && ".join(
        f"(!has(object.spec.{field}) || object.spec.{field}.all(c, !has(c.image) || {condition}))"
        for field in POD_CONTAINER_FIELDS
    )


def pod_image_rule(own_images: str) -> dict[str, str]:
    """Every node pulls with the node role, which reads every ECR repository of the account (and
    every project repository's policy names it): so a pod here may take an ECR image only from the
    project's own repositories of this environment (`own_images`, `<registry>/<project>/<env>/`).
    Images outside ECR (KServe's, the tracking server's) stay allowed."""
    own = own_images.replace("\\", "\\\\").replace("'", "\\'")
    return {
        "expression": every_container_image(f"(!c.image.matches(r'{ECR_IMAGE}') || c.image.startsWith('{own}'))"),
        "message": f"pods here may run ECR images of the project's own repositories only ({own_images}…)",
    }


# An image ID (`sha256:<hex>`, or its start): containerd's CRI takes a reference that parses as a
# digest for the ID of an image the node already holds and starts it without pulling, whoever
# pulled it. Kubelet reads `sha256:<hex>` as the tag of an image `sha256`, which is not `latest`,
# so its default pull policy (IfNotPresent) asks the node first. An RE2 pattern.
IMAGE_ID = r"^sha(256|384|512):"


def pod_image_id_rule() -> dict[str, str]:
    """An image named by its ID is whatever image the node holds under it, another team's image
    included (the node pulled it with the shared node role): only references reach a registry,
    where the rule above decides whose repository it is."""
    return {
        "expression": every_container_image(f"!c.image.matches(r'{IMAGE_ID}')"),
        "message": (
            "pods here name images by repository and tag or digest (<repository>@sha256:…), not by an image ID "
            "(sha256:…): an ID starts whatever image the node holds, another project's included"
        ),
    }


def pod_placement_rules(owner: str, serving_class: str, placeholder_class: str) -> list[dict[str, str]]:
    """CEL rules for the namespace's pods. Taints keep other pods off a pool only while no pod
    tolerates them, and whoever may create a Deployment here (a data scientist in dev) writes its
    tolerations: so a pod may tolerate the project taint with this namespace's value only, never
    the system nodes' taint nor every taint at once (a toleration without key), and may not name a
    node itself (`nodeName` skips the scheduler and its taints). PriorityClasses are
    cluster-scoped and any pod may name any: only the project's own here, and its serving class,
    whose value the team chose, only on its own pools (where it competes with its own pods)."""
    tolerated = (
        f"has(t.key) && t.key != '' && t.key != '{SYSTEM_TAINT_KEY}' && "
        f"(t.key != '{OWNER_KEY}' || ((!has(t.operator) || t.operator == 'Equal') && has(t.value) && t.value == '{owner}'))"
    )
    on_own_nodes = (
        f"has(object.spec.nodeSelector) && '{OWNER_KEY}' in object.spec.nodeSelector && "
        f"object.spec.nodeSelector['{OWNER_KEY}'] == '{owner}'"
    )
    return [
        {
            "expression": f"!has(object.spec.tolerations) || object.spec.tolerations.all(t, {tolerated})",
            "message": (
                f"pods here may tolerate only their own project's taint ({OWNER_KEY}={owner}): "
                "not another project's pools, nor the system nodes, nor every taint"
            ),
        },
        {
            "expression": "request.operation != 'CREATE' || !has(object.spec.nodeName) || object.spec.nodeName == ''",
            "message": "pods here may not name their node (spec.nodeName): the scheduler places them",
        },
        {
            "expression": (
                "!has(object.spec.priorityClassName) || object.spec.priorityClassName == '' || "
                f"object.spec.priorityClassName == '{placeholder_class}' || "
                f"(object.spec.priorityClassName == '{serving_class}' && {on_own_nodes})"
            ),
            "message": (
                f"pods here may use only the project's own priority classes ({serving_class} on its own pools, "
                f"{placeholder_class})"
            ),
        },
    ]


def pod_placement_policy_spec(
    owner: str, serving_class: str, placeholder_class: str, own_images: str
) -> dict[str, Any]:
    """Pods on their own nodes, at their own priorities, from their own images. Ephemeral
    containers (`kubectl debug`) are added through a subresource, matched as well."""
    return admission_policy_spec(
        "",
        ["pods", "pods/ephemeralcontainers"],
        [
            *pod_placement_rules(owner, serving_class, placeholder_class),
            pod_image_rule(own_images),
            pod_image_id_rule(),
        ],
        api_versions=["v1"],
    )


# --- workflow metrics name their own project ---------------------------------------------------

ARGO_KINDS_WITH_SPEC = ("workflows", "workflowtemplates")
ARGO_CRON_KINDS = ("cronworkflows",)


def _cel_text(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _labelled(project: str, environment: str) -> str:
    """CEL over a custom metric `m`: exactly one `project` and one `environment` label, this ones."""
    return " && ".join(
        [
            "has(m.labels)",
            *(
                f"m.labels.exists_one(l, l.key == '{key}') && "
                f"m.labels.exists(l, l.key == '{key}' && l.value == {_cel_text(value)})"
                for key, value in (("project", project), ("environment", environment))
            ),
        ]
    )


def _metrics_labelled(template: str, labelled: str) -> str:
    return f"(!has({template}.metrics) || !has({template}.metrics.prometheus) || {template}.metrics.prometheus.all(m, {labelled}))"


def workflow_spec_metric_checks(spec: str, project: str, environment: str) -> list[str]:
    """CEL over a workflow spec (`spec`): every custom metric it can emit carries the labels, at
    the workflow's level and its templates' defaults, in its templates, and in the templates inlined
    in their steps and tasks (Argo inlines once: an inline template inside another never runs)."""
    labelled = _labelled(project, environment)
    in_steps = (
        f"(!has(t.steps) || t.steps.all(g, g.all(s, !has(s.inline) || {_metrics_labelled('s.inline', labelled)})))"
    )
    in_tasks = (
        f"(!has(t.dag) || !has(t.dag.tasks) || t.dag.tasks.all(d, !has(d.inline) || "
        f"{_metrics_labelled('d.inline', labelled)}))"
    )
    templates = f"!has({spec}.templates) || {spec}.templates.all(t, "
    return [
        f"{_metrics_labelled(spec, labelled)} && "
        f"(!has({spec}.templateDefaults) || {_metrics_labelled(spec + '.templateDefaults', labelled)})",
        templates + _metrics_labelled("t", labelled) + ")",
        templates + f"{in_steps} && {in_tasks})",
    ]


def workflow_metric_rules(project: str, environment: str) -> list[dict[str, str]]:
    """CEL rules for the namespace's Workflows, WorkflowTemplates and CronWorkflows. Argo's
    controller serves the custom metrics of every namespace's workflows as one set of series,
    labelled only as their definitions say, and the alerts of each project select theirs by
    `project` and `environment`. Whoever may create a Workflow here (a data scientist in dev: Argo
    aggregates its kinds into `edit`) writes those labels: set to another project's, a gauge of
    theirs is overwritten (its drift or quality alert silenced) and a counter of theirs raised
    (its prod on-call paged). So every custom metric here carries this project's and this
    environment's, and no other value of them."""
    message = (
        f"custom metrics of workflows here must carry exactly the labels project={project} and "
        f"environment={environment}: Argo serves every namespace's metrics as one set of series"
    )
    kinds = {
        "request.kind.kind == 'CronWorkflow'": "object.spec",
        "request.kind.kind != 'CronWorkflow' || !has(object.spec.workflowSpec)": "object.spec.workflowSpec",
    }
    return [
        {"expression": f"{guard} || ({check})", "message": message}
        for guard, spec in kinds.items()
        for check in workflow_spec_metric_checks(spec, project, environment)
    ]


def workflow_metric_policy_spec(project: str, environment: str) -> dict[str, Any]:
    return admission_policy_spec(
        "argoproj.io", [*ARGO_KINDS_WITH_SPEC, *ARGO_CRON_KINDS], workflow_metric_rules(project, environment)
    )


# --- access ---------------------------------------------------------------------------------


# --- the namespace's network perimeter stays the platform's ----------------------------------------


# Who acts for a project in the cluster: its people (their access entries map them into
# `mlrig:<namespace>:<persona>` groups), any service account of a namespace that is not
# Kubernetes', AWS's or the platform's (the namespace's own, or one its `admin` bound a role to),
# and anonymous requests (a role an `admin` bound to `system:unauthenticated`). kube-system's
# controllers (namespace deletion, garbage collection), the platform's add-ons (the External
# Secrets controller) and the platform's deployer are none of these.
def acts_for_a_project() -> str:
    """CEL over `request.userInfo`: whether the requester acts for some project."""
    user = "request.userInfo.username"
    system_accounts = _cel_list([f"system:serviceaccount:{ns}:" for ns in tenancy.RESERVED_NAMESPACES])
    project_account = (
        f"({user}.startsWith('system:serviceaccount:') && "
        f"!{user}.startsWith('system:serviceaccount:{tenancy.RESERVED_NAMESPACE_PREFIXES[0]}') && "
        f"!{system_accounts}.exists(p, {user}.startsWith(p)))"
    )
    project_group = (
        "(has(request.userInfo.groups) && request.userInfo.groups.exists(g, "
        f"g.startsWith('{naming.KUBERNETES_GROUP_PREFIX}') || g == 'system:unauthenticated'))"
    )
    return f"({user} == 'system:anonymous' || {project_group} || {project_account})"


def network_perimeter_rules() -> list[dict[str, str]]:
    """CEL rules for the namespace's NetworkPolicies. `edit` (a data scientist in dev) and `admin`
    (the CI deployer) include writing NetworkPolicies, and policies only add up: so whoever acts
    for the project could delete `default-deny` or add an allow-all egress, and reach what only
    the project's own egress rules kept it from — the platform's namespaces, which have no
    ingress policies (Alertmanager's API silences every team's alerts or posts alerts routed to
    another team's receivers; Prometheus reads every team's series), every port in the VPC. The
    policies here are the platform's: only its deployer (and kube-system's controllers) write them."""
    return [
        {
            "expression": f"!{acts_for_a_project()}",
            "message": (
                "NetworkPolicies here are the platform's: the project's people and workloads may not create, "
                "change or delete them (change network access through the platform team)"
            ),
        }
    ]


def network_perimeter_policy_spec() -> dict[str, Any]:
    spec = admission_policy_spec("networking.k8s.io", ["networkpolicies"], network_perimeter_rules())
    spec["matchConstraints"]["resourceRules"][0]["operations"] = ["CREATE", "UPDATE", "DELETE"]
    return spec


def service_scope_rules() -> list[dict[str, str]]:
    """CEL rules for the namespace's Services. kube-proxy on every node sends traffic for a
    Service's `externalIPs` to the Service's pods, whoever the traffic is from (CVE-2020-8554,
    which EKS leaves open: its API server does not enable `DenyServiceExternalIPs`): a Service here
    naming another team's database address takes its connections and the passwords they send, one
    naming the Pod Identity agent's address takes every pod's credential requests. No mlrig
    Service uses them; load balancers and node ports are already held at 0 by the quota."""
    return [
        {
            "expression": "!has(object.spec.externalIPs) || size(object.spec.externalIPs) == 0",
            "message": "Services here may not set externalIPs: they would redirect other pods' traffic to this namespace",
        }
    ]


def service_scope_policy_spec() -> dict[str, Any]:
    return admission_policy_spec("", ["services"], service_scope_rules(), api_versions=["v1"])


def alert_routes_rules(secret: str) -> list[dict[str, str]]:
    """CEL rules for the namespace's Secrets and ExternalSecrets. The platform's Alertmanager
    takes the project's webhook and Slack URLs from the Secret `secret` of the namespace (the
    AlertmanagerConfig's `urlSecret`/`apiURL`), and `edit` (a data scientist in dev) and `admin`
    (the CI deployer) write Secrets and ExternalSecrets: so whoever acts for the project could put
    any URL there — directly, or through an ExternalSecret whose template targets that Secret —
    and Alertmanager, in the monitoring namespace and past every project's rules, POSTs to it on
    each alert the team raises: Prometheus' lifecycle API (`/-/quit` stops every team's
    alerting), any in-cluster service, any host the platform did not list. That Secret, and any
    ExternalSecret named or targeting it, is written only by the platform's deployer and the
    External Secrets controller."""
    selected = "(request.operation == 'DELETE' ? oldObject : object)"
    targets = (
        f"({selected}.metadata.name == '{secret}' || "
        f"(has({selected}.spec) && has({selected}.spec.target) && has({selected}.spec.target.name) && "
        f"{selected}.spec.target.name == '{secret}'))"
    )
    return [
        {
            "expression": f"!{targets} || !{acts_for_a_project()}",
            "message": (
                f"the Secret '{secret}' holds the URLs the platform's Alertmanager posts to: only the platform "
                "writes it (alert routes are changed in the bundle, their credentials in Secrets Manager)"
            ),
        }
    ]


def alert_routes_policy_spec(secret: str) -> dict[str, Any]:
    rules = [
        {
            "apiGroups": [""],
            "apiVersions": ["v1"],
            "operations": ["CREATE", "UPDATE", "DELETE"],
            "resources": ["secrets"],
        },
        {
            "apiGroups": ["external-secrets.io"],
            "apiVersions": ["*"],
            "operations": ["CREATE", "UPDATE", "DELETE"],
            "resources": ["externalsecrets"],
        },
    ]
    return {
        "failurePolicy": "Fail",
        "matchConstraints": {"resourceRules": rules},
        "validations": alert_routes_rules(secret),
    }


def personas_with_roles(spec: ProjectSpec) -> list[str]:
    """Persona roles exist iff their access list is non-empty; the CI deployer always exists."""
    personas = []
    if spec.access.data_scientists:
        personas.append("data-scientist")
    if spec.access.ml_engineers:
        personas.append("ml-engineer")
    personas.append("ci-deployer")
    return personas


class Workspace(pulumi.ComponentResource):
    """Namespace, quota, limits, network policies, service accounts and RBAC of one project
    environment. `foundation` is what every object of the namespace waits for (everything here
    but the service accounts: their number grows with the pipelines); `prerequisites` adds each
    workload's own service account."""

    namespace: k8s.core.v1.Namespace
    foundation: list[pulumi.Resource]
    service_accounts: dict[str, k8s.core.v1.ServiceAccount]

    def __init__(
        self,
        name: str,
        ctx: ProjectContext,
        *,
        database_secret_arns: Sequence[pulumi.Output[str]] = (),
        access_roles: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`access_roles`: the persona and CI deployer roles (and policies) the access entries name."""
        super().__init__("mlrig:project:Workspace", name, None, opts)
        self._ctx = ctx
        spec = ctx.env.spec
        self.namespace = self._namespace()
        after_ns = [self.namespace]
        self.foundation = [self.namespace, self._quota(spec, after_ns), self._limit_range(after_ns)]
        for policy, policy_spec in network_policies(ctx).items():
            self.foundation.append(
                k8s.networking.v1.NetworkPolicy(
                    f"{name}-{policy}",
                    metadata=metadata(ctx, policy, component="network"),
                    spec=cast(k8s.networking.v1.NetworkPolicySpecArgsDict, policy_spec),
                    opts=ctx.k8s_opts(self, depends_on=after_ns),
                )
            )
        workloads = workload_names(spec, imports_models=promotion.imports(ctx.env))
        self.service_accounts = {w: self._service_account(w, spec, after_ns) for w in workloads}
        self.foundation += self._access(spec, access_roles, after_ns)
        self.foundation += self._keep_pods_on_own_nodes(after_ns)
        self.foundation += self._admission_policy(
            naming.NETWORK_PERIMETER,
            "network-perimeter-policy",
            network_perimeter_policy_spec(),
            after_ns,
            component="network",
        )
        self.foundation += self._admission_policy(
            naming.SERVICE_SCOPE, "service-scope-policy", service_scope_policy_spec(), after_ns, component="network"
        )
        if addons_of(ctx).monitoring.enabled:
            self.foundation += self._admission_policy(
                naming.ALERT_ROUTES_LOCKED,
                "alert-routes-policy",
                alert_routes_policy_spec(ALERT_SECRET),
                after_ns,
                component="monitoring",
            )
        if addons_of(ctx).argo_workflows.enabled:
            self.foundation += self._admission_policy(
                naming.WORKFLOW_METRICS,
                "workflow-metrics-policy",
                workflow_metric_policy_spec(ctx.names.project, ctx.names.environment),
                after_ns,
                component="pipeline",
            )
        if addons_of(ctx).external_secrets.enabled:
            self.secret_store: pulumi.Resource | None = k8s.apiextensions.CustomResource(
                f"{name}-secret-store",
                api_version=EXTERNAL_SECRETS_API,
                kind="SecretStore",
                metadata=metadata(ctx, SECRET_STORE, component="secrets"),
                spec=secret_store_spec(ctx),
                opts=ctx.k8s_opts(self, depends_on=after_ns),
            )
            self.foundation.append(self.secret_store)
            self.foundation += self._scope_external_secrets(after_ns, database_secret_arns)
        else:
            self.secret_store = None
        self.register_outputs({"namespace": ctx.names.namespace})

    @property
    def prerequisites(self) -> Prerequisites:
        """What objects of the namespace wait for here: the foundation, and for a workload's pods
        their service account (a pod naming a missing one is refused)."""
        return Prerequisites(
            shared=tuple(self.foundation), by_workload={w: (sa,) for w, sa in self.service_accounts.items()}
        )

    def _namespace(self) -> k8s.core.v1.Namespace:
        ctx = self._ctx
        # `baseline` is enforced (KServe and Argo inject sidecars outside our control);
        # `restricted` is warned and audited, and mlrig's own pods meet it.
        labels = {
            "pod-security.kubernetes.io/enforce": "baseline",
            "pod-security.kubernetes.io/warn": "restricted",
            "pod-security.kubernetes.io/audit": "restricted",
        }
        if queueing_active(ctx):
            # Opts the namespace into the platform's Kueue: only labelled namespaces' pods reach
            # its webhook, and of those only pods naming a queue are managed.
            labels[naming.KUEUE_OPT_IN_LABEL] = naming.KUEUE_OPT_IN_VALUE
        return k8s.core.v1.Namespace(
            f"{self._name_prefix}-namespace",
            metadata=metadata(ctx, ctx.names.namespace, labels=labels, namespaced=False),
            opts=ctx.k8s_opts(self),
        )

    @property
    def _name_prefix(self) -> str:
        return self._ctx.names.prefix

    def _quota(self, spec: ProjectSpec, after: Sequence[pulumi.Resource]) -> pulumi.Resource:
        return k8s.core.v1.ResourceQuota(
            f"{self._name_prefix}-quota",
            metadata=metadata(self._ctx, "project-quota"),
            spec={"hard": quota_hard(spec)},
            opts=self._ctx.k8s_opts(self, depends_on=after),
        )

    def _limit_range(self, after: Sequence[pulumi.Resource]) -> pulumi.Resource:
        return k8s.core.v1.LimitRange(
            f"{self._name_prefix}-limits",
            metadata=metadata(self._ctx, "container-defaults"),
            spec=cast(
                k8s.core.v1.LimitRangeSpecArgsDict,
                {"limits": [{"type": "Container", "default": DEFAULT_LIMIT, "defaultRequest": DEFAULT_REQUEST}]},
            ),
            opts=self._ctx.k8s_opts(self, depends_on=after),
        )

    def _service_account(
        self, workload: str, spec: ProjectSpec, after: Sequence[pulumi.Resource]
    ) -> k8s.core.v1.ServiceAccount:
        ctx = self._ctx
        # Pipeline pods need their token (Argo's executor reports results through the API);
        # the long-running servers never talk to the Kubernetes API.
        automount = workload in spec.pipelines
        return k8s.core.v1.ServiceAccount(
            f"{self._name_prefix}-sa-{workload}",
            metadata=metadata(
                ctx,
                ctx.names.service_account(workload),
                component=workload,
                labels={"mlrig.io/workload": workload},
            ),
            automount_service_account_token=automount,
            opts=ctx.k8s_opts(self, depends_on=after),
        )

    def _scope_external_secrets(
        self, after: Sequence[pulumi.Resource], database_secret_arns: Sequence[pulumi.Output[str]]
    ) -> list[pulumi.Resource]:
        ctx = self._ctx
        prefix, store = ctx.names.secret(""), SECRET_STORE
        scope = pulumi.Output.all(*database_secret_arns).apply(
            lambda arns: external_secret_policy_spec(prefix, store, sorted(str(a) for a in arns))
        )
        return [
            *self._admission_policy(naming.EXTERNAL_SECRETS_SCOPE, "external-secrets-policy", scope, after),
            *self._admission_policy(
                naming.PUSH_SECRETS_DENIED, "push-secrets-policy", push_secret_policy_spec(), after
            ),
            *self._admission_policy(
                naming.SECRET_STORE_SCOPE, "secret-store-policy", secret_store_policy_spec(ctx.names.region), after
            ),
        ]

    def _keep_pods_on_own_nodes(self, after: Sequence[pulumi.Resource]) -> list[pulumi.Resource]:
        names = self._ctx.names
        spec = pod_placement_policy_spec(
            names.namespace,
            names.priority_class("serving"),
            names.placeholder_priority_class(),
            f"{naming.ecr_registry(names.account, names.region)}/{names.repository('')}",
        )
        return self._admission_policy(naming.POD_PLACEMENT, "pod-placement-policy", spec, after, component="compute")

    def _admission_policy(
        self,
        suffix: str,
        logical: str,
        spec: pulumi.Input[dict[str, Any]],
        after: Sequence[pulumi.Resource],
        *,
        component: str = "secrets",
    ) -> list[pulumi.Resource]:
        """A ValidatingAdmissionPolicy bound (Deny) to this project's namespace only."""
        ctx = self._ctx
        policy_name = ctx.names.admission_policy(suffix)
        policy = k8s.admissionregistration.v1.ValidatingAdmissionPolicy(
            f"{self._name_prefix}-{logical}",
            metadata=metadata(ctx, policy_name, component=component, namespaced=False),
            spec=cast(k8s.admissionregistration.v1.ValidatingAdmissionPolicySpecArgsDict, spec),
            opts=ctx.k8s_opts(self),
        )
        binding = k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(
            f"{self._name_prefix}-{logical}-binding",
            metadata=metadata(ctx, policy_name, component=component, namespaced=False),
            spec=cast(
                k8s.admissionregistration.v1.ValidatingAdmissionPolicyBindingSpecArgsDict,
                {
                    "policyName": policy_name,
                    "validationActions": ["Deny"],
                    "matchResources": {
                        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ctx.names.namespace}}
                    },
                },
            ),
            opts=ctx.k8s_opts(self, depends_on=[policy, *after]),
        )
        return [policy, binding]

    def _access(
        self, spec: ProjectSpec, role_dependencies: Sequence[pulumi.Resource], after: Sequence[pulumi.Resource]
    ) -> list[pulumi.Resource]:
        ctx = self._ctx
        made: list[pulumi.Resource] = []
        for persona in personas_with_roles(spec):
            group = ctx.names.kubernetes_group(persona)
            entry = aws.eks.AccessEntry(
                f"{self._name_prefix}-access-{persona}",
                cluster_name=ctx.platform.cluster_name,
                principal_arn=ctx.names.role_arn(persona),
                kubernetes_groups=[group],
                type="STANDARD",
                opts=ctx.aws_opts(self, depends_on=role_dependencies),
            )
            binding = k8s.rbac.v1.RoleBinding(
                f"{self._name_prefix}-rb-{persona}",
                metadata=metadata(ctx, f"mlrig-{persona}", component="access", labels={"mlrig.io/persona": persona}),
                role_ref=cast(
                    k8s.rbac.v1.RoleRefArgsDict,
                    {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "ClusterRole",
                        "name": CLUSTER_ROLES[ctx.tier][persona],
                    },
                ),
                subjects=cast(
                    list[k8s.rbac.v1.SubjectArgsDict],
                    [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}],
                ),
                opts=ctx.k8s_opts(self, depends_on=after),
            )
            made += [entry, binding]
        return made
