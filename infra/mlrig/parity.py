"""`mlrig parity PROJECT [--pair staging:prod]`: what differs between two environments of a
project that neither a tier rule nor an explicit override explains.

1. Both environments are planned offline. Environment names, tiers, account ids and regions are
   normalised out of URNs, names and every string value (`<env>`, `<tier>`, `<account>`,
   `<region>`), so `fraud-detection--staging--data--222222222222` and its prod twin compare equal.
2. Resources are matched by normalised URN; their inputs and effective options are compared leaf
   by leaf (`diff.compare.flatten`).
3. Each difference is explained by a **tier rule** (`TIER_RULES`, the one list of what mlrig
   deliberately does differently by tier) or by an **override** the bundle states for one of
   the two environments (`spec.environments.<env>.…`, mapped to the resources it touches by
   `override_scope`, conservatively), or by the project's deployment pattern (`pattern_scope`:
   under deploy-models the environment that trains and the one that imports differ by design).
   Anything else is reported; exit 1 when anything is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from . import naming, promotion
from .diff.compare import flatten

Resource = Mapping[str, Any]


# --- tier rules ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TierRule:
    """What mlrig does differently by tier: the resource types and property paths it touches
    (regular expressions over the normalised path; `""` matches a resource present on one side)."""

    id: str
    description: str
    types: tuple[str, ...]
    paths: tuple[str, ...]
    names: str = ".*"  # a regular expression over the resource's logical name

    def explains(self, token: str, path: str, name: str = "") -> bool:
        if not any(token == t or (t.endswith("*") and token.startswith(t[:-1])) for t in self.types):
            return False
        return bool(re.fullmatch(self.names, name)) and any(re.fullmatch(p, path) for p in self.paths)


TIER_RULES: tuple[TierRule, ...] = (
    TierRule(
        "protect-prod-state",
        "prod stateful resources are protect and retainOnDelete",
        ("*",),
        (r"\(option\) (protect|retainOnDelete)",),
    ),
    TierRule(
        "emptied-on-delete-outside-prod",
        "outside prod, deleting a bucket or registry deletes its objects and images (prod's are retained)",
        ("aws:s3/bucket:Bucket", "aws:ecr/repository:Repository"),
        (r"forceDestroy", r"forceDelete"),
    ),
    TierRule(
        "database-by-tier",
        "databases: instance class, Multi-AZ, deletion protection, backups and final snapshot by tier",
        ("aws:rds/instance:Instance",),
        (
            r"instanceClass",
            r"multiAz",
            r"deletionProtection",
            r"backupRetentionPeriod",
            r"skipFinalSnapshot",
            r"finalSnapshotIdentifier",
            r"performanceInsights.*",
            r"maxAllocatedStorage",
            r"applyImmediately",
        ),
    ),
    TierRule(
        "final-snapshot-name-in-prod",
        "prod databases take a final snapshot named with a suffix made with the database",
        ("random:index/randomId:RandomId",),
        (r"",),
        names=r".*-final-snapshot",
    ),
    TierRule(
        "search-by-tier",
        "OpenSearch: node count, zone awareness (and so the subnets, one per zone) and instance type by tier",
        ("aws:opensearch/domain:Domain",),
        (r"clusterConfig\..*", r"vpcOptions\.subnetIds.*"),
    ),
    TierRule(
        "storage-retention",
        "staging data expires; staging and prod are versioned; prod keeps access logs",
        ("aws:s3/*", "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"),
        (r"rules.*", r"versioningConfiguration\..*", r"", r"targetPrefix"),
    ),
    TierRule(
        "log-retention",
        "log groups and registries keep more in prod",
        ("aws:cloudwatch/logGroup:LogGroup", "aws:ecr/lifecyclePolicy:LifecyclePolicy"),
        (r"retentionInDays", r"policy"),
    ),
    TierRule(
        "dev-schedules-suspended",
        "dev schedules are created suspended",
        ("kubernetes:argoproj.io/v1alpha1:CronWorkflow",),
        (r"spec\.suspend",),
    ),
    TierRule(
        "staging-data-fraction",
        "staging pipelines run on a fraction of the data",
        ("kubernetes:argoproj.io/v1alpha1:WorkflowTemplate",),
        (r"spec\.arguments\.parameters\[\d+\]\.value", r"spec\.templates\[\d+\]\.container\.env\[\d+\]\.value"),
    ),
    TierRule(
        "approval-by-tier",
        "model deployment asks for a manual approval in prod only",
        ("kubernetes:argoproj.io/v1alpha1:WorkflowTemplate",),
        (r"spec\.templates.*",),
    ),
    TierRule(
        "repository-by-tier",
        "the staging- and prod-tier stacks provision their GitHub environment (prod with reviewers); dev none",
        ("github:*", "pulumi:providers:github"),
        (r".*",),
    ),
    TierRule(
        "prod-access-by-tier",
        "people read but never write prod: persona policies, key policies and RBAC differ by tier",
        (
            "aws:iam/rolePolicy:RolePolicy",
            "aws:kms/key:Key",
            "aws:s3/bucketPolicy:BucketPolicy",
            "kubernetes:rbac.authorization.k8s.io/v1:*",
            "aws:eks/accessPolicyAssociation:AccessPolicyAssociation",
        ),
        (r"policy", r"rules.*", r"accessScope.*", r"policyArn", r"roleRef.*", r"subjects.*"),
    ),
    TierRule(
        "secrets-recovery-by-tier",
        "deleted secrets stay recoverable in prod; elsewhere their names are free again at once",
        ("aws:secretsmanager/secret:Secret",),
        (r"recoveryWindowInDays",),
    ),
    TierRule(
        "alert-severity-by-tier",
        "alerts are critical in prod, warnings elsewhere",
        ("kubernetes:monitoring.coreos.com/v1:PrometheusRule",),
        (r"spec\.groups\[\d+\]\.rules\[\d+\]\.labels\.severity",),
    ),
    TierRule(
        "prod-high-availability",
        "in-cluster servers (tracking, inference logger, feedback collector) run two replicas with a "
        "disruption budget in prod (`kube.server_replicas`)",
        ("kubernetes:apps/v1:Deployment", "kubernetes:policy/v1:PodDisruptionBudget"),
        (r"spec\.replicas", r""),
        names=r".*-(tracking|serving-logger|llm-feedback-collector)(-.*)?",
    ),
    TierRule(
        "alarms-by-tier",
        "alarm thresholds follow the database size of the tier",
        ("aws:cloudwatch/metricAlarm:MetricAlarm",),
        (r"threshold",),
    ),
)


# --- normalisation -------------------------------------------------------------------------------


# Strings that contain an environment's name by coincidence (a `dev` environment and `/dev/…`).
LITERALS = ("/dev/xvd", "/dev/sd", "/dev/nvme")
# Ids AWS (and the plan's mocks) make up: they differ between any two deployments.
GENERATED_IDS = (
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "<uuid>"),
    (re.compile(r"\b(sg|vpc|subnet|igw|nat|rtb|eipalloc|vpce|fl)-[0-9a-f]{8,17}\b"), r"\1-<id>"),
    (re.compile(r"\b[0-9A-F]{32}\b"), "<hex>"),
    (re.compile(r"(:secret:[^\s'\"]*?)-[A-Za-z0-9]{6}\b"), r"\1-<suffix>"),
    (re.compile(r"\.[0-9a-z]{12}\.([a-z0-9-]+)\.rds\.amazonaws\.com"), r".<id>.\1.rds.amazonaws.com"),
    # An OpenSearch domain's VPC endpoint: `vpc-<domain>-<26 characters>.<region>.es.amazonaws.com`.
    (re.compile(r"-[0-9a-z]{26}(\.[a-z0-9-]+\.es\.amazonaws\.com)"), r"-<id>\1"),
    # Jobs named after a digest of their spec, which holds each environment's own addresses.
    (re.compile(r"\b(vector-access|vector-db-roles)-[0-9a-f]{10}\b"), r"\1-<digest>"),
)


@dataclass(frozen=True)
class Side:
    environment: str
    tier: str
    account: str | None
    region: str
    cidr: str | None = None  # the environment's VPC: a platform setting, not the project's
    keep: tuple[str, ...] = ()  # literal values never normalised (people's principal ARNs)

    def normalise(self, text: str) -> str:
        kept = {f"\x00{i}\x00": value for i, value in enumerate((*self.keep, *LITERALS)) if value in text}
        for marker, value in kept.items():
            text = text.replace(value, marker)
        text = self._normalise(text)
        for marker, value in kept.items():
            text = text.replace(marker, value)
        return text

    def _normalise(self, text: str) -> str:
        for pattern, marker in GENERATED_IDS:
            text = pattern.sub(marker, text)
        if self.cidr:
            text = text.replace(self.cidr, "<vpc-cidr>")
        # An environment's name and its tier normalise alike: a prod environment named `prod`
        # writes `prod` for both, so a staging one named `abn` must compare `abn` and `staging`
        # to it as the same marker (its tier labels read `<tier>` against prod's `<env>` else).
        markers = (
            (self.account, "<account>"),
            (self.region, "<region>"),
            (self.environment, "<env>"),
            (self.environment.replace("-", "_"), "<env>"),  # as Glue spells it (`ProjectNames.glue_database`)
            (self.tier, "<env>"),
        )
        for value, marker in markers:
            if value:
                text = re.sub(rf"(?<![A-Za-z0-9]){re.escape(value)}(?![A-Za-z0-9])", marker, text)
        return text


def normalised(value: Any, side: Side) -> Any:
    if isinstance(value, str):
        return side.normalise(value)
    if isinstance(value, Mapping):
        return {side.normalise(str(k)): normalised(v, side) for k, v in value.items()}
    if isinstance(value, list):
        return [normalised(v, side) for v in value]
    return value


# Of a provider, only what reaches the resources it manages as data (its kubeconfig and
# credentials differ by cluster and account, which the platform decides).
PROVIDER_PATHS = ("defaultTags", "region", "ignoreTags")


# Digests of another input (a server's configuration file, `naming.CONFIG_DIGEST_ANNOTATION`):
# they differ wherever what they digest does, and that is compared itself, normalised.
DERIVED_PATH_SUFFIXES = (f"annotations.{naming.CONFIG_DIGEST_ANNOTATION}",)


def _leaves(resource: Resource, side: Side) -> dict[str, Any]:
    leaves = {
        p: v
        for p, v in flatten(normalised(resource.get("inputs") or {}, side))
        if not p.endswith(DERIVED_PATH_SUFFIXES)
    }
    if resource["type"].startswith("pulumi:providers:"):
        leaves = {p: v for p, v in leaves.items() if p.startswith(PROVIDER_PATHS)}
    options = resource.get("options") or {}
    for option in ("protect", "retainOnDelete"):
        leaves[f"(option) {option}"] = bool(options.get(option))
    return leaves


# --- overrides -----------------------------------------------------------------------------------


def override_paths(override: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every leaf an override sets, named items of lists as `name=<x>`."""
    for key, value in override.items():
        path = (*prefix, str(key))
        if isinstance(value, Mapping) and value:
            yield from override_paths(value, path)
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) and "name" in v for v in value):
            for item in value:
                rest = {k: v for k, v in item.items() if k != "name"}
                yield from (
                    override_paths(rest, (*path, f"name={item['name']}"))
                    if rest
                    else iter([(*path, f"name={item['name']}")])
                )
        else:
            yield path


def _label(resource: Resource, key: str) -> str | None:
    inputs = resource.get("inputs") or {}
    labels = ((inputs.get("metadata") or {}).get("labels") or {}) | (
        (((inputs.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}
    )
    return labels.get(key)


def override_scope(path: tuple[str, ...]) -> Callable[[Resource, str], bool]:
    """Which resources an override path may change. Conservative: a pool's override explains
    its NodePool, EC2NodeClass, warm nodes, its queue flavors, the namespace quota and the
    project's ClusterQueue; an endpoint's, the objects
    labelled with it and the quota; a pipeline's, its workflow objects; any other section, the
    resources of the component that builds it."""
    section = path[0]
    named = path[2].removeprefix("name=") if len(path) > 2 and path[2].startswith("name=") else None
    if section == "tags":
        return lambda r, changed: changed.startswith(("tags", "defaultTags", "tagsAll"))
    scope = _resource_scope(section, path, named)
    return lambda r, changed: scope(r)


def _resource_scope(section: str, path: tuple[str, ...], named: str | None) -> Callable[[Resource], bool]:
    quota = "kubernetes:core/v1:ResourceQuota"
    cluster_queue = "kubernetes:kueue.x-k8s.io/v1beta2:ClusterQueue"
    if section == "compute" and named:
        # A pool sizes the namespace quota and the project's ClusterQueue, and shapes its own
        # Kueue ResourceFlavors (sharing, labels).
        return lambda r: (
            r["type"] in (quota, cluster_queue)
            or _label(r, "mlrig.io/pool") == named
            or f"-pools-{named}-" in str(r["name"])
            or f"-queues-{named}-" in str(r["name"])
        )
    if section == "serving" and named:
        return lambda r: (
            r["type"] == quota or _label(r, "mlrig.io/endpoint") == named or f"-serving-{named}" in str(r["name"])
        )
    if path == ("monitoring", "retrainOnDrift"):
        # Drift submits the training pipeline: the monitoring pipelines' right to submit it.
        return lambda r: (
            str(r["name"]).endswith(("-role-submit-retraining", "-rolebinding-submit-retraining"))
            or (":Monitoring" in str(r.get("_component", "")))
        )
    if section == "pipelines" and len(path) > 1:
        name = path[1]
        return lambda r: (
            r["type"] == quota or _label(r, "mlrig.io/pipeline") == name or f"-pipelines-{name}-" in str(r["name"])
        )
    component = {
        "compute": ":ComputePools",
        "serving": ":Serving",
        "pipelines": ":Pipelines",
        "storage": ":Storage",
        "access": ":Identity",
        "registries": ":Registries",
        "registry": ":Registries",
        "monitoring": ":Monitoring",
        "llm": ":Llm",
        "ci": ":ProjectRepository",
    }.get(section)
    return lambda r: component is not None and component in str(r.get("_component", ""))


# --- the deployment pattern ----------------------------------------------------------------------

# Per workload identity: its IAM role, the role's policy, its pod identity and service account.
WORKLOAD_SUFFIXES = ("", "-workload-access", "-pod-identity")


def pattern_scope(project: Any, pair: tuple[str, str]) -> Callable[[Resource], bool] | None:
    """Under `deploy-models` an environment that trains and one that imports differ by design
    (`mlrig.promotion`): the training and fine-tuning pipelines (their workflow objects, identities
    and service accounts, and the role that lets them submit the release) exist where the model is
    trained, the import step's identity where it is imported, and the namespace quota follows the
    pipelines. None when both environments train, or both import."""
    sides = [project.environments[env] for env in pair]
    if len({promotion.trains(env.spec.deployment_pattern, env.tier) for env in sides}) < 2:
        return None
    trainers = {n for env in sides for n, p in env.spec.pipelines.items() if p.type in promotion.TRAINING_TYPES}
    workloads = (*trainers, naming.MODEL_IMPORT)
    identities = tuple(f"--wl--{w}{suffix}" for w in workloads for suffix in WORKLOAD_SUFFIXES)
    accounts = tuple(f"-sa-{w}" for w in workloads)
    release = ("-pipelines-role-submit-release", "-pipelines-rolebinding-submit-release")

    def scope(resource: Resource) -> bool:
        name = str(resource.get("name", ""))
        return (
            resource["type"] == "kubernetes:core/v1:ResourceQuota"
            or name.endswith(identities + accounts + release)
            or any(_label(resource, "mlrig.io/pipeline") == t or f"-pipelines-{t}-" in name for t in trainers)
        )

    return scope


# --- the comparison ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Difference:
    resource: str  # normalised URN (type::name)
    type: str
    path: str  # "" when the resource exists on one side only
    left: Any
    right: Any
    explained_by: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "resource": self.resource,
            "type": self.type,
            "path": self.path,
            "left": self.left,
            "right": self.right,
            "explainedBy": self.explained_by,
        }


@dataclass
class ParityReport:
    project: str
    left: str
    right: str
    differences: list[Difference] = field(default_factory=list)

    @property
    def unexplained(self) -> list[Difference]:
        return [d for d in self.differences if d.explained_by is None]

    def as_dict(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "pair": [self.left, self.right],
            "parity": not self.unexplained,
            "unexplained": [d.as_dict() for d in self.unexplained],
            "explained": [d.as_dict() for d in self.differences if d.explained_by is not None],
        }


def _with_components(resources: Sequence[Resource]) -> list[dict[str, Any]]:
    """Each resource with the type of the top-level component it belongs to (`_component`)."""
    by_urn = {r["urn"]: r for r in resources}
    out = []
    for resource in resources:
        chain = []
        current = by_urn.get(resource.get("parent") or "")
        while current is not None:
            chain.append(current["type"])
            current = by_urn.get(current.get("parent") or "")
        out.append({**resource, "_component": " ".join(chain)})
    return out


def _key(resource: Resource, side: Side) -> str:
    urn = side.normalise(resource["urn"])
    return urn.split("::", 2)[-1]  # drop the stack and project: `type-chain::name`


def explain(
    token: str,
    path: str,
    resource: Resource,
    overrides: Sequence[tuple[str, tuple[str, ...]]],
    pattern: Callable[[Resource], bool] | None = None,
) -> str | None:
    for rule in TIER_RULES:
        if rule.explains(token, path, str(resource.get("name", ""))):
            return f"tier rule {rule.id}"
    for env, override in overrides:
        if override_scope(override)(resource, path):
            return f"override spec.environments.{env}.{'.'.join(override)}"
    if pattern is not None and pattern(resource):
        return f"deployment pattern {promotion.DEPLOY_MODELS}"
    return None


def compare(
    project: str,
    left: tuple[Side, Sequence[Resource]],
    right: tuple[Side, Sequence[Resource]],
    overrides: Sequence[tuple[str, tuple[str, ...]]],
    pattern: Callable[[Resource], bool] | None = None,
) -> ParityReport:
    report = ParityReport(project, left[0].environment, right[0].environment)
    sides = []
    for side, resources in (left, right):
        sides.append({_key(r, side): (r, side) for r in _with_components(resources) if r.get("custom")})
    a, b = sides
    for key in sorted(a.keys() | b.keys()):
        if key not in a or key not in b:
            resource, side = a.get(key) or b[key]
            present = "left" if key in a else "right"
            report.differences.append(
                Difference(
                    key,
                    resource["type"],
                    "",
                    present == "left",
                    present == "right",
                    explain(resource["type"], "", resource, overrides, pattern),
                )
            )
            continue
        (ra, sa), (rb, sb) = a[key], b[key]
        la, lb = _leaves(ra, sa), _leaves(rb, sb)
        for path in sorted(la.keys() | lb.keys()):
            if la.get(path) != lb.get(path):
                report.differences.append(
                    Difference(
                        key,
                        ra["type"],
                        path,
                        la.get(path),
                        lb.get(path),
                        explain(ra["type"], path, rb, overrides, pattern),
                    )
                )
    return report


def render_text(report: ParityReport) -> str:
    lines = [f"mlrig parity {report.project}: {report.left} vs {report.right}"]
    explained = len(report.differences) - len(report.unexplained)
    for d in report.unexplained:
        if d.path == "":
            where = report.left if d.left else report.right
            lines.append(f"  ✗ {d.resource}: only in {where}")
        else:
            lines.append(
                f"  ✗ {d.resource}: {d.path}: {json.dumps(d.left)} ({report.left}) ≠ {json.dumps(d.right)} ({report.right})"
            )
    verdict = "parity holds" if not report.unexplained else f"{len(report.unexplained)} unexplained difference(s)"
    lines.append(f"{verdict}; {explained} difference(s) explained by tier rules or overrides")
    return "\n".join(lines) + "\n"


# --- the command ---------------------------------------------------------------------------------

TIER_ORDER = {"dev": 0, "staging": 1, "prod": 2}


def shared_owner(platform: Any) -> str | None:
    """Under `namespace` isolation, the environment whose stack owns the shared VPC, cluster and
    databases' subnet group that every environment's workloads use; None otherwise."""
    if platform.isolation != "namespace":
        return None
    return naming.shared_cluster_owner({n: e.tier for n, e in platform.environments.items()})


def side_of(project: Any, environment: str) -> Side:
    env = project.environments[environment]
    platform_env = env.platform_environment
    principals = (*env.spec.access.data_scientists, *env.spec.access.ml_engineers)
    owner = shared_owner(project.platform)
    # The shared VPC's CIDR, and the owner's platform names (`<platform>-<owner>-databases`), are
    # the same literal in every environment: never the environment's own.
    cidr = project.platform.environments[owner or environment].spec.network.cidr
    shared = (naming.platform_resource(project.platform.name, owner, ""),) if owner else ()
    return Side(environment, env.tier, platform_env.account, platform_env.region, cidr, (*principals, *shared))


def default_pairs(project: Any) -> list[tuple[str, str]]:
    """Each environment against the next tier up: dev:staging, staging:prod."""
    ordered = sorted(project.environments.values(), key=lambda e: (TIER_ORDER[e.tier], e.name))
    return [(a.name, b.name) for a, b in pairwise(ordered) if a.tier != b.tier]


def project_parity(project: Any, pair: tuple[str, str], planner: Any) -> ParityReport:
    left, right = pair
    overrides = [(env, path) for env in pair for path in override_paths(project.bundle.spec.environments.get(env, {}))]
    return compare(
        project.name,
        (side_of(project, left), planner.plan(project, left).resources),
        (side_of(project, right), planner.plan(project, right).resources),
        overrides,
        pattern_scope(project, pair),
    )


def run_parity_command(
    project_name: str, bundles: str, pairs: Sequence[str], fmt: str, *, stdout: Any, stderr: Any
) -> int:
    from .plan.command import CommandError, plan_all, requested_targets
    from .plan.runner import Planner

    try:
        targets = requested_targets([bundles], stderr)
    except CommandError as error:
        if str(error):
            stderr.print(f"error: {error}", markup=False, highlight=False)
        return error.code
    projects = {t.name: t for t in targets if t.bundle.kind == "Project"}
    project = projects.get(project_name)
    if project is None:
        known = ", ".join(sorted(projects)) or "none"
        stderr.print(f"error: no project named '{project_name}' in {bundles}; projects: {known}", markup=False)
        return 2
    chosen: list[tuple[str, str]] = []
    for text in pairs:
        left, sep, right = text.partition(":")
        if not sep or left not in project.environments or right not in project.environments or left == right:
            stderr.print(
                f"error: --pair {text!r} must be two environments of {project.name} as A:B "
                f"(its environments: {', '.join(project.environments)})",
                markup=False,
            )
            return 2
        chosen.append((left, right))
    chosen = chosen or default_pairs(project)
    planner = Planner()
    try:
        plan_all([(project, sorted({e for pair in chosen for e in pair}))], stderr, planner)
    except CommandError as error:
        stderr.print(f"error: {error}", markup=False, highlight=False)
        return error.code
    reports = [project_parity(project, pair, planner) for pair in chosen]
    holds = all(not r.unexplained for r in reports)
    if fmt == "json":
        payload = {"project": project.name, "parity": holds, "pairs": [r.as_dict() for r in reports]}
        stdout.file.write(json.dumps(payload, indent=2, default=str) + "\n")
    else:
        stdout.file.write("".join(render_text(r) for r in reports))
    return 0 if holds else 1
