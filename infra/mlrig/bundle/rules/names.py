"""Names are unique, DNS-compatible, and short enough for every name derived from them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import PurePath
from typing import NamedTuple

from ... import naming, promotion
from ...capacity_types import node_pool_capacity_types
from ...hub import hub_models
from ..diagnostics import Path
from ..model import PlatformBundle, ProjectBundle, ProjectSpec
from ..resolved import Platform
from . import BundleSetView, Finding, ProjectView, platform_rule, project_rule, set_rule


@set_rule
def bundle_names_unique(view: BundleSetView) -> Iterator[tuple[str, Finding]]:
    for label, bundles in (("Platform", view.platforms), ("Project", view.projects)):
        counts = Counter(bundle.metadata.name for _, bundle in bundles)
        first: dict[str, str] = {}
        for file, bundle in bundles:
            name = bundle.metadata.name
            if counts[name] > 1:
                if name in first:
                    yield (
                        file,
                        Finding(
                            ("metadata", "name"),
                            f"{label} name '{name}' is already used by {first[name]}; names must be unique",
                        ),
                    )
                else:
                    first[name] = file
    platform_names = {bundle.metadata.name for _, bundle in view.platforms}
    for file, bundle in view.projects:
        if bundle.metadata.name in platform_names:
            yield (
                file,
                Finding(
                    ("metadata", "name"), f"'{bundle.metadata.name}' is also a platform's name; stack names would clash"
                ),
            )


@project_rule
def list_item_names_unique(view: ProjectView) -> Iterator[Finding]:
    groups: list[tuple[tuple[str | int, ...], list[str]]] = [
        (("spec", "compute", "pools"), [p.name for p in view.spec.compute.pools]),
        (("spec", "serving", "endpoints"), [e.name for e in view.spec.serving.endpoints]),
        (("spec", "monitoring", "quality"), [q.name for q in view.spec.monitoring.quality]),
    ]
    for path, names in groups:
        seen: set[str] = set()
        for i, name in enumerate(names):
            if name in seen:
                hint = _renamed_pool_hint(view, names) if path[-1] == "pools" else ""
                yield Finding((*path, i, "name"), f"'{name}' is declared twice; names must be unique{hint}")
            seen.add(name)
    seen_registries: set[str] = set()
    for i, registry in enumerate(view.spec.registries):
        if registry in seen_registries:
            yield Finding(("spec", "registries", i), f"registry '{registry}' is declared twice")
        seen_registries.add(registry)


def project_items(bundle: ProjectBundle) -> tuple[list[str], list[str], list[str]]:
    """(pipelines, registries, pools) a project names in its spec or in any override, since an
    override may add items (merged by name), and each item derives names of its own."""
    spec = bundle.spec
    pipelines, registries = list(spec.pipelines), list(spec.registries)
    pools = [pool.name for pool in spec.compute.pools]
    for override in spec.environments.values():
        if isinstance(override.get("pipelines"), dict):
            pipelines += [k for k in override["pipelines"] if isinstance(k, str)]
        if isinstance(override.get("registries"), list):
            registries += [r for r in override["registries"] if isinstance(r, str)]
        compute = override.get("compute")
        if isinstance(compute, dict) and isinstance(compute.get("pools"), list):
            pools += [p["name"] for p in compute["pools"] if isinstance(p, dict) and isinstance(p.get("name"), str)]
    return list(dict.fromkeys(pipelines)), list(dict.fromkeys(registries)), list(dict.fromkeys(pools))


def _renamed_pool_hint(view: ProjectView, pools: list[str]) -> str:
    """A copied pool whose name was not changed leaves references to a pool that no longer
    exists: name them, they are what this pool should be called."""
    referenced = [p.pool for p in view.spec.pipelines.values()] + [e.pool for e in view.spec.serving.endpoints]
    missing = sorted({name for name in referenced if name and name not in pools})
    if not missing:
        return ""
    return f" (pipelines or endpoints refer to {', '.join(repr(m) for m in missing)}, which no pool is named)"


class DerivedName(NamedTuple):
    # A tuple, not a dataclass: validation derives some thirty of them per project, environment
    # and view of it, and a tuple is built several times faster.
    limit_key: str  # a key of naming.LIMITS
    name: str
    item: Path | None = None  # the bundle item whose name it also contains, besides the project's
    item_name: str = ""


class NamingInputs(NamedTuple):
    """Exactly what of a project spec its derived names depend on. Hashable, so the names are
    derived once for the views of a project that agree on it (most do: overrides change sizes,
    not names), instead of once per view and environment."""

    personas: tuple[str, ...]  # the personas that have principals
    pipelines: tuple[str, ...]
    reserved_workloads: tuple[str, ...]  # workload identities besides the pipelines'
    feedback: bool
    registries: tuple[str, ...]
    vector_engine: str | None
    pools: tuple[tuple[str, bool, bool, bool], ...]  # name, a second fallback, EFA, cluster placement
    # The deployment pattern, when the project has a model-deployment pipeline: above dev,
    # deploy-models adds the import step's identity (promotion.imports).
    deploys: str | None


def naming_inputs(spec: ProjectSpec) -> NamingInputs:
    personas = {"data-scientist": spec.access.data_scientists, "ml-engineer": spec.access.ml_engineers}
    reserved = ["tracking"]
    if spec.serving.endpoints:
        reserved.append("serving")
    if spec.llm.gateway is not None and spec.llm.gateway.providers:
        reserved.append("gateway")
    if spec.llm.feedback.enabled:
        reserved.append("feedback")
    vector_database = spec.llm.vector_database
    engine = vector_database.engine if vector_database is not None else None
    # The vector database's administrator: OpenSearch's master user, or the Job creating pgvector's
    # reader role for the custom endpoints (project/context.py `workloads`).
    if engine == "opensearch" or (engine == "pgvector" and any(e.runtime == "custom" for e in spec.serving.endpoints)):
        reserved.append(naming.VECTOR_ADMIN)
    if hub_models(spec):
        reserved.append(naming.MODEL_HUB)
    pools = []
    for pool in spec.compute.pools:
        second_node_pool = len(node_pool_capacity_types(pool)) > 1
        pools.append((pool.name, second_node_pool, bool(pool.efa), pool.placement_group == "cluster"))
    return NamingInputs(
        personas=tuple(p for p, principals in personas.items() if principals),
        pipelines=tuple(spec.pipelines),
        reserved_workloads=tuple(reserved),
        feedback=spec.llm.feedback.enabled,
        registries=tuple(spec.registries),
        vector_engine=engine,
        pools=tuple(pools),
        deploys=spec.deployment_pattern if promotion.has_model_deployment(spec) else None,
    )


def project_derived_names(
    project: str, spec: ProjectSpec, environment: str, tier: str, account: str | None, isolation: str
) -> list[DerivedName]:
    """The AWS and Kubernetes names with a length limit that the project's stack of one
    environment creates: only the resources it will have (the access-logs bucket only in prod,
    persona roles only for the personas with principals, the feedback stream only with feedback
    on, …). Account ids are always 12 digits, so a placeholder measures the same."""
    derived = _derived_names(project, naming_inputs(spec), environment, tier, account, isolation)
    return [DerivedName._make(d) for d in derived]


# A derived name as `_derived_names` keeps it: a plain tuple of DerivedName's fields. Validation
# derives some 110,000 of them per thousand bundles, and a plain tuple is built ten times faster
# than a NamedTuple; only a message needs the fields by name (`project_derived_names`).
_Derived = tuple[str, str, Path | None, str]


@lru_cache(maxsize=4096)
def _derived_names(
    project: str, inputs: NamingInputs, environment: str, tier: str, account: str | None, isolation: str
) -> tuple[_Derived, ...]:
    names = naming.ProjectNames(project, environment, account or naming.PLACEHOLDER_ACCOUNT, "us-east-1", isolation)
    found: list[_Derived] = [("s3-bucket", names.bucket(c), None, "") for c in ("data", "artifacts", "logs")]
    if tier == "prod":
        found.append(("s3-bucket", names.bucket("access-logs"), None, ""))
    found += [("iam-role", names.role(p), None, "") for p in inputs.personas]
    found.append(("iam-role", names.role("ci-deployer"), None, ""))
    found += [("iam-role", names.workload_role(p), ("spec", "pipelines", p), p) for p in inputs.pipelines]
    if inputs.feedback:
        found.append(("iam-role", naming.firehose_delivery_role(names, "feedback"), None, ""))
        found.append(("firehose-stream", names.firehose("feedback"), None, ""))
    found += [("iam-role", names.workload_role(w), None, "") for w in inputs.reserved_workloads]
    if inputs.deploys is not None and promotion.imports_models(inputs.deploys, tier):
        found.append(("iam-role", names.workload_role(naming.MODEL_IMPORT), None, ""))
    found += [
        ("ecr-repository", names.repository(r), ("spec", "registries", i), r) for i, r in enumerate(inputs.registries)
    ]
    found.append(("rds-instance", names.database("mlflow"), None, ""))
    if inputs.vector_engine == "pgvector":
        found.append(("rds-instance", names.database("vectors"), None, ""))
    if inputs.vector_engine == "opensearch":
        found.append(("opensearch-domain", names.opensearch_domain(), None, ""))
    found.append(("k8s-namespace", names.namespace, None, ""))
    # Listed whether or not this environment creates them yet (an endpoint on a pool, a warm
    # pool): the name is refused the day it does, so the project name is judged now.
    found += [("k8s-priority-class", names.priority_class(k), None, "") for k in naming.POD_PRIORITY_KINDS]
    found.append(("k8s-priority-class", names.placeholder_priority_class(), None, ""))
    found += [("k8s-object", names.admission_policy(purpose), None, "") for purpose in naming.ADMISSION_POLICIES]
    found += [("kms-alias", names.kms_alias(), None, ""), ("glue-database", names.glue_database(), None, "")]
    found.append(("secret", names.secret(""), None, ""))
    for i, (pool, second_fallback, efa, cluster_placement) in enumerate(inputs.pools):
        where: Path = ("spec", "compute", "pools", i, "name")
        found.append(("k8s-name", names.node_pool(pool), where, pool))
        if second_fallback:  # a second fallback is a NodePool of its own
            found.append(("k8s-name", naming.join(names.node_pool(pool), "fallback"), where, pool))
        if efa:
            found.append(("security-group", names.efa_security_group(pool), where, pool))
        if cluster_placement:
            found.append(("placement-group", names.placement_group(pool), where, pool))
    return tuple(found)


@lru_cache(maxsize=4096)
def _judged_names(
    project: str, inputs: NamingInputs, environment: str, tier: str, account: str | None, isolation: str
) -> tuple[frozenset[str], bool]:
    """Of the names one environment derives: the problems of those that fit their limit (a prefix
    a service reserves), and whether any is too long. Cached with the names themselves."""
    reserved: set[str] = set()
    too_long = False
    limits, prefix_judged = naming.LIMITS, naming.PREFIX_JUDGED
    for limit_key, name, _, _ in _derived_names(project, inputs, environment, tier, account, isolation):
        if len(name) > limits[limit_key]:
            too_long = True
        elif limit_key in prefix_judged and (problem := naming.name_problem(limit_key, name)):
            reserved.add(problem)
    return frozenset(reserved), too_long


def _too_long(names: list[DerivedName]) -> list[DerivedName]:
    return [n for n in names if len(n.name) > naming.LIMITS[n.limit_key]]


@project_rule
def derived_names_fit(view: ProjectView) -> Iterator[Finding]:
    """Every name derived from the project's name fits its limit, in every environment. One
    finding per cause: the project name (with the longest name that fits), or an item whose own
    name is too long whatever the project is called."""
    if view.platform is None:
        return  # environment names are unknown: the missing platform is the error
    project = view.bundle.metadata.name
    platform = view.platform

    def derived(name: str) -> list[DerivedName]:
        return [
            d
            for env in platform.environments.values()
            for d in project_derived_names(name, view.spec, env.name, env.tier, env.account, platform.isolation)
        ]

    inputs = naming_inputs(view.spec)
    judged = [
        _judged_names(project, inputs, env.name, env.tier, env.account, platform.isolation)
        for env in platform.environments.values()
    ]
    # A prefix a service reserves (e.g. S3's `xn--`) comes from the project name itself.
    for problem in sorted(set().union(*(reserved for reserved, _ in judged))):
        yield Finding(("metadata", "name"), f"{problem}; rename the project")
    if not any(too_long for _, too_long in judged):
        return
    # Items too long even beside a one-letter project name: the item is the cause.
    item_causes: dict[Path, DerivedName] = {}
    for candidate in _too_long(derived("a")):
        if candidate.item is not None:
            item_causes.setdefault(candidate.item, candidate)
    for path, cause in item_causes.items():
        yield Finding(
            path,
            f"name '{cause.item_name}' is too long whatever the project is called: it makes the "
            f"{cause.limit_key} name '{cause.name}' {len(cause.name)} characters, over the limit of "
            f"{naming.LIMITS[cause.limit_key]}; shorten it",
            key=path[1] == "pipelines",
        )
    rest = [d for d in _too_long(derived(project)) if d.item not in item_causes]
    if not rest:
        return
    worst = max(rest, key=lambda d: len(d.name) - naming.LIMITS[d.limit_key])
    fits = [k for k in range(len(project) - 1, 0, -1) if not _remaining_too_long(derived("a" * k), item_causes)]
    longest = fits[0] if fits else 0
    # A name joining the project's with an item's (a pipeline's role) can be fixed on either side.
    either = f", or shorten '{worst.item_name}', whose name it joins" if worst.item is not None else ""
    yield Finding(
        ("metadata", "name"),
        f"project name '{project}' ({len(project)} characters) is too long for the AWS names derived from it "
        f"(e.g. the {worst.limit_key} name '{worst.name}' is {len(worst.name)} characters, over the limit of "
        f"{naming.LIMITS[worst.limit_key]}); use at most {longest} characters{either}",
    )


def _remaining_too_long(names: list[DerivedName], excluded: dict[Path, DerivedName]) -> bool:
    return any(d.item not in excluded for d in _too_long(names))


@project_rule
def pipeline_names_not_reserved(view: ProjectView) -> Iterator[Finding]:
    for name in view.spec.pipelines:
        if name in naming.RESERVED_WORKLOADS:
            yield Finding(
                ("spec", "pipelines", name),
                f"pipeline name '{name}' is reserved for a built-in workload ({', '.join(naming.RESERVED_WORKLOADS)}); rename it",
                key=True,
            )


def _platform_derived_names(platform: PlatformBundle, environment: str) -> list[tuple[str, str]]:
    """(limit key, name) of the AWS names a platform environment derives."""
    name = platform.metadata.name
    cluster = naming.cluster_name(name, environment, platform.spec.isolation)
    names = [
        ("eks-cluster", cluster),
        ("eks-node-group", naming.system_node_group(cluster)),
        ("iam-role", naming.platform_deployer_role(name, environment)),
        ("iam-role", naming.flow_log_role(name, environment)),
        ("iam-role", naming.cluster_role(cluster)),
        ("iam-role", naming.system_node_role(cluster)),
        ("iam-role", naming.karpenter_node_role(cluster)),
        ("iam-role", naming.karpenter_controller_role(cluster)),
        ("sqs-queue", naming.karpenter_interruption_queue(cluster)),
    ]
    if not platform.spec.state.backend:
        names.append(("s3-bucket", naming.state_bucket(name)))
    return names


@platform_rule
def platform_derived_names_fit(platform: Platform) -> Iterator[Finding]:
    """Every AWS name derived from the platform and environment names fits its limit."""
    for environment in platform.environments:
        for limit_key, name in _platform_derived_names(platform.bundle, environment):
            limit = naming.LIMITS[limit_key]
            if len(name) > limit:
                yield Finding(
                    ("spec", "environments", environment),
                    f"derived {limit_key} name '{name}' is {len(name)} characters, over the limit of {limit}; "
                    "shorten the platform name or this environment's name",
                    key=True,
                )


# --- across the bundle set -----------------------------------------------------------------------

_CLUSTER_SCOPED = ("k8s-namespace", "k8s-name", "k8s-object")
_UNKNOWN_ACCOUNT = "(deploying account)"


def _scope(kind: str, account: str, region: str, cluster: str) -> tuple[str, ...]:
    """Where a name must be unique: S3 buckets everywhere, IAM roles per account, Kubernetes
    objects per cluster, other AWS names per account and region."""
    if kind == "s3-bucket":
        return ("s3",)
    if kind == "iam-role":
        return ("iam", account)
    if kind in _CLUSTER_SCOPED:
        return ("cluster", account, region, cluster)
    return ("region", account, region)


def _shareable_names(
    names: naming.ProjectNames, pipelines: list[str], registries: list[str], pools: list[str]
) -> list[tuple[str, str]]:
    """Of a project's derived names, those another bundle could derive too: not its
    `joined_names`, which all start with `<project>--`. Another bundle's name starting so would
    start with that bundle's own name followed by `--`: a project's names start with its name
    followed by `--`, `/`, `-<environment>-` or `_` (Glue's, its `-` read `_`), or with a fixed
    word (`alias/`, `mlrig/`); a platform's join its own and its environments' names with `-`.
    While no bundle or environment name holds `--` (checked by the rule), that is only a bundle
    of the same name, which `bundle_names_unique` reports and this rule skips. Most of a
    project's names are joined ones (roles, buckets, NodePools, admission policies, …): deriving
    and recording only the others finds the same clashes for a fraction of the cost (`pipelines`
    and `pools` only make joined names)."""
    own = names.project + naming.SEPARATOR  # the namespace, under `namespace` isolation
    return [d for d in names.unjoined_names(registries=registries) if not d[1].startswith(own)]


@set_rule
def derived_names_unique(view: BundleSetView) -> Iterator[tuple[str, Finding]]:
    """No two bundles derive the same cluster- or account-scoped name (namespace, NodePool,
    admission policy, role, bucket, repository, database, secrets prefix, …): the second stack
    would fail to create it, or, where a provider adopts existing objects, take over the first's.
    Reported once per pair of bundles, in both files, each naming the other."""
    # (scope, kind, name) -> who derives it: its first (file, who), or {file: who} once a second
    # file derives it too. Most names have one owner; a dict each cost a tenth of a second per
    # thousand bundles.
    owners: dict[tuple[tuple[str, ...], str, str], tuple[str, str] | dict[str, str]] = {}
    counts = Counter([b.metadata.name for _, b in view.platforms] + [b.metadata.name for _, b in view.projects])
    platforms = {bundle.metadata.name: bundle for _, bundle in view.platforms}
    # What `_shareable_names` stands on: no bundle or environment name holds the separator. Always so
    # for validated bundles (`model.DNS_LABEL`), but checked here, not assumed.
    written = [*counts, *(env for _, platform in view.platforms for env in platform.spec.environments)]
    unambiguous = not any(naming.SEPARATOR in name for name in written)

    def add_all(names: Iterable[tuple[str, str]], account: str, region: str, cluster: str, file: str, who: str) -> None:
        scopes: dict[str, tuple[str, ...]] = {}
        for kind, name in names:
            scope = scopes.get(kind)
            if scope is None:
                scope = scopes[kind] = _scope(kind, account, region, cluster)
            key = (scope, kind, name)
            found = owners.get(key)
            if found is None:
                owners[key] = (file, who)
            elif isinstance(found, tuple):
                if found[0] != file:
                    owners[key] = {found[0]: found[1], file: who}
            else:
                found.setdefault(file, who)

    for file, platform in view.platforms:
        if counts[platform.metadata.name] > 1:
            continue  # bundle_names_unique reports it
        for env_name, env in platform.spec.environments.items():
            account = env.account or _UNKNOWN_ACCOUNT
            cluster = naming.cluster_name(platform.metadata.name, env_name, platform.spec.isolation)
            who = f"platform '{platform.metadata.name}' in environment {env_name}"
            add_all(_platform_derived_names(platform, env_name), account, env.region, cluster, file, who)
    for file, project in view.projects:
        home = platforms.get(project.spec.platform)
        if home is None or counts[project.metadata.name] > 1:
            continue
        pipelines, registries, pools = project_items(project)
        for env_name, env in home.spec.environments.items():
            account = env.account or _UNKNOWN_ACCOUNT
            cluster = naming.cluster_name(home.metadata.name, env_name, home.spec.isolation)
            names = naming.ProjectNames(project.metadata.name, env_name, account, env.region, home.spec.isolation)
            who = f"project '{project.metadata.name}' in environment {env_name}"
            if unambiguous:
                derived = _shareable_names(names, pipelines, registries, pools)
            else:
                derived = names.derived_names(pipelines=pipelines, registries=registries, opensearch=True, pools=pools)
            add_all(derived, account, env.region, cluster, file, who)
    clashes: dict[tuple[str, str], list[str]] = {}  # (file, other file) -> descriptions
    for (_, kind, name), by_file in owners.items():
        if isinstance(by_file, tuple):
            continue  # one file derives it
        for file, who in by_file.items():
            for other, other_who in by_file.items():
                if other != file:
                    clashes.setdefault((file, other), []).append(f"{kind} '{name}' ({who}; {other_who})")
    for (file, other), found in clashes.items():
        more = f" and {len(found) - 1} more" if len(found) > 1 else ""
        yield (
            file,
            Finding(
                ("metadata", "name"),
                f"derives names that {view.where(other, 'metadata', 'name')} derives too: {found[0]}{more}; "
                "rename one of the two",
            ),
        )


@set_rule
def file_names_match_bundle_names(view: BundleSetView) -> Iterator[tuple[str, Finding]]:
    """A bundle lives in `<metadata.name>.yaml` (a platform may also use `platform.yaml`): file
    names become CODEOWNERS paths, so they hold nothing but a bundle name."""
    bundles: list[tuple[str, PlatformBundle | ProjectBundle]] = [*view.platforms, *view.projects]
    for file, bundle in bundles:
        name = bundle.metadata.name
        allowed = [f"{name}{suffix}" for suffix in (".yaml", ".yml")]
        if isinstance(bundle, PlatformBundle):
            allowed += ["platform.yaml", "platform.yml"]
        actual = PurePath(file).name
        if actual not in allowed:
            yield (
                file,
                Finding(
                    ("metadata", "name"),
                    f"the file of bundle '{name}' must be named {name}.yaml, not '{actual}': file names "
                    "become CODEOWNERS paths, so they hold only a bundle name",
                ),
            )


def _kserve_objects(endpoint: str, strategy: str) -> list[tuple[str, str]]:
    """(kind, name) of what KServe runs for one endpoint: its InferenceServices, their predictor
    Deployments (`<service>-predictor`) and, for a split rollout, the InferenceGraph router's
    Deployment (named as the endpoint)."""
    services = list(naming.rollout_service_names(endpoint, strategy).values())
    objects = [("InferenceService", s) for s in services] + [
        ("Deployment", naming.kserve_predictor(s)) for s in services
    ]
    if strategy in naming.SPLIT_VARIANTS:
        objects.append(("Deployment", endpoint))
    return objects


def _namespace(view: ProjectView) -> str | None:
    """The project's namespace in the view's environment, when its platform is known."""
    if view.platform is None or view.environment is None:
        return None
    names = naming.ProjectNames(
        view.bundle.metadata.name, view.environment, naming.PLACEHOLDER_ACCOUNT, "us-east-1", view.platform.isolation
    )
    return names.namespace


def _endpoint_rollouts(view: ProjectView) -> tuple[tuple[str, str], ...]:
    """(name, rollout strategy) of each endpoint, in order: all the two KServe rules below read
    of the endpoints, so their findings are cached on it (the views of a project share it)."""
    return tuple((endpoint.name, endpoint.rollout.strategy) for endpoint in view.spec.serving.endpoints)


@project_rule
def inference_service_names_fit(view: ProjectView) -> Iterator[Finding]:
    """KServe (RawDeployment) labels an InferenceService's predictor pods
    `app: isvc.<service>-predictor` and derives its host `<service>-predictor-<namespace>.<domain>`;
    a label value and a DNS label each hold 63 characters. A longer one and KServe never creates
    the predictor's Deployment (the API server refuses the label; the reconcile fails on the host),
    so the endpoint never serves while everything else deploys."""
    if view.spec.serving.endpoints:
        yield from _inference_service_name_findings(_endpoint_rollouts(view), _namespace(view))


# Keyed on the endpoints' names and rollouts and the namespace, all the rule reads: the same in
# every environment of a project (but the namespace under `namespace` isolation).
@lru_cache(maxsize=4096)
def _inference_service_name_findings(
    endpoints: tuple[tuple[str, str], ...], namespace: str | None
) -> tuple[Finding, ...]:
    findings = []
    for k, (name, strategy) in enumerate(endpoints):
        derived = naming.kserve_derived_labels(name, strategy, namespace)
        too_long = [(what, value) for what, value in derived if len(value) > naming.LABEL_VALUE_LIMIT]
        if not too_long:
            continue
        what, value = max(too_long, key=lambda item: len(item[1]))
        room = min(naming.LABEL_VALUE_LIMIT - (len(v) - len(name)) for _, v in derived)
        if room < 1:
            continue  # no endpoint name fits beside this namespace: the project name is the cause (derived_names_fit)
        where = f"the {what} '{value}'" if what == "pod label" else f"the host label '{value}' (of '{value}.<domain>')"
        advice = f"use at most {room} characters"
        if what == "host":
            advice += " (or shorten the project name)"
        findings.append(
            Finding(
                ("spec", "serving", "endpoints", k, "name"),
                f"endpoint name '{name}' is too long for KServe: with its `{strategy}` rollout KServe derives "
                f"{where}, {len(value)} characters, over the {naming.LABEL_VALUE_LIMIT} Kubernetes allows, so it "
                f"never creates the endpoint's Deployment; {advice}",
            )
        )
    return tuple(findings)


@project_rule
def kserve_object_names_unique(view: ProjectView) -> Iterator[Finding]:
    """Two endpoints whose rollouts derive the same InferenceService or Deployment name (`api`'s
    canary `api-canary` and an endpoint called `api-canary`) fight over one object: the second
    create fails, or one endpoint serves the other's model."""
    if view.spec.serving.endpoints:
        yield from _kserve_object_name_findings(_endpoint_rollouts(view))


@lru_cache(maxsize=4096)  # keyed on the endpoints' names and rollouts, all the rule reads
def _kserve_object_name_findings(endpoints: tuple[tuple[str, str], ...]) -> tuple[Finding, ...]:
    findings = []
    owners: dict[tuple[str, str], str] = {}
    for k, (name, strategy) in enumerate(endpoints):
        for kind, object_name in _kserve_objects(name, strategy):
            other = owners.setdefault((kind, object_name), name)
            if other != name:
                findings.append(
                    Finding(
                        ("spec", "serving", "endpoints", k, "name"),
                        f"endpoints '{other}' and '{name}' would both make the {kind} '{object_name}' (an "
                        f"endpoint with a canary, ab or shadow rollout also runs '<name>-stable', '-canary', '-a', "
                        f"'-b' or '-shadow'); rename '{name}'",
                    )
                )
                break
    return tuple(findings)


@project_rule
def scheduled_pipeline_names_fit_argo(view: ProjectView) -> Iterator[Finding]:
    """A scheduled pipeline runs as a CronWorkflow named after it; Argo refuses one whose name is
    over 52 characters (its runs are `<name>-<timestamp>`), so the schedule never fires."""
    for name, pipeline in view.spec.pipelines.items():
        if pipeline.schedule and len(name) > naming.ARGO_CRON_NAME_LIMIT:
            yield Finding(
                ("spec", "pipelines", name),
                f"pipeline name '{name}' ({len(name)} characters) is too long for a schedule: Argo refuses a "
                f"CronWorkflow name over {naming.ARGO_CRON_NAME_LIMIT} characters (it names each run "
                f"`<name>-<timestamp>`); use at most {naming.ARGO_CRON_NAME_LIMIT} characters",
                key=True,
            )
