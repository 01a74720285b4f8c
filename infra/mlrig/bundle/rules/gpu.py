"""GPU governance: sharing modes suit the pool's GPUs, EFA and placement groups suit its instance
types, reservations are the platform's to give, queued jobs fit their share, and endpoints that
scale to zero or mount the model hub have what they need."""

from __future__ import annotations

from collections.abc import Iterator

from ... import gpu_sharing, observability, tenancy
from ...hub import hub_models
from ...instance_facts import InstanceFacts, all_facts, facts_of
from ..diagnostics import Path, did_you_mean
from ..model import Addons, ComputePool, ProjectSpec
from . import Finding, ProjectView, project_rule

LARGE_MODEL_RUNTIMES = ("vllm", "huggingface")
# Pipeline types whose steps run together as one distributed job (several workers).
DISTRIBUTED_TYPES = ("training", "fine-tuning")


def _pool(i: int, *rest: str | int) -> Path:
    return ("spec", "compute", "pools", i, *rest)


def _addons(view: ProjectView) -> Addons | None:
    cluster = view.platform_environment.spec.cluster if view.platform_environment is not None else None
    if cluster is None and view.platform is not None:
        cluster = view.platform.bundle.spec.cluster
    return cluster.addons if cluster is not None else None


def _unique_pools(spec: ProjectSpec) -> dict[str, tuple[int, ComputePool]]:
    names = [p.name for p in spec.compute.pools]
    return {p.name: (i, p) for i, p in enumerate(spec.compute.pools) if names.count(p.name) == 1}


# --- sharing -------------------------------------------------------------------------------------


@project_rule
def gpu_sharing_suits_the_pool(view: ProjectView) -> Iterator[Finding]:
    """Time-slicing needs its replicas, MIG a profile every instance type's GPU has; neither on CPU."""
    for i, pool in _unique_pools(view.spec).values():
        sharing = pool.sharing
        if sharing.mode != "none" and pool.gpu is None:
            yield Finding(
                _pool(i, "sharing", "mode"), f"pool '{pool.name}' has no GPUs to share; add `gpu: {{count: 1}}`"
            )
            continue
        if sharing.mode == "time-slicing" and sharing.replicas is None:
            yield Finding(
                _pool(i, "sharing"),
                f"time-slicing in pool '{pool.name}' needs `replicas`: how many pods share each GPU "
                f"({gpu_sharing.MIN_REPLICAS}–{gpu_sharing.MAX_REPLICAS})",
            )
        if sharing.replicas is not None and sharing.mode != "time-slicing":
            yield Finding(_pool(i, "sharing", "replicas"), "`replicas` applies to `mode: time-slicing` only")
        if sharing.profile is not None and sharing.mode != "mig":
            yield Finding(_pool(i, "sharing", "profile"), "`profile` applies to `mode: mig` only")
        if sharing.mode == "mig":
            yield from _mig_findings(i, pool)


def _mig_findings(i: int, pool: ComputePool) -> Iterator[Finding]:
    profile = pool.sharing.profile
    for j, instance_type in enumerate(pool.instance_types):
        facts = facts_of(instance_type)
        if facts is None or not facts.nvidia_gpus:
            continue  # not a GPU type: gpu_pools_use_gpu_instances reports it
        profiles = gpu_sharing.mig_profiles(facts)
        if not profiles:
            yield Finding(
                _pool(i, "instanceTypes", j),
                f"'{instance_type}' has {facts.gpu_name or 'no'} GPUs, which have no MIG; MIG needs A100, H100 or "
                "H200 GPUs (p4d, p4de, p5, p5e, p5en), or use `mode: time-slicing`",
            )
        elif profile is None:
            yield Finding(
                _pool(i, "sharing"),
                f"MIG in pool '{pool.name}' needs a `profile`: one of {', '.join(profiles)} ({instance_type})",
            )
            return
        elif profile not in profiles:
            yield Finding(
                _pool(i, "sharing", "profile"),
                f"'{instance_type}' ({facts.gpu_name}, {(facts.gpu_memory_mib or 0) // 1024} GiB) has no MIG profile "
                f"'{profile}'{did_you_mean(profile, profiles)}; it has {', '.join(profiles)}",
            )


@project_rule
def shared_gpus_serve_one_gpu_pods(view: ProjectView) -> Iterator[Finding]:
    """On a shared pool a pod takes at most one GPU, and no distributed job runs there: the device
    plugin fails time-sliced requests above one (two replicas may be the same GPU), a CUDA process
    sees one MIG instance only, and workers of one job on slices of one GPU only slow each other."""
    pools = _unique_pools(view.spec)
    workloads: list[tuple[Path, str, str | None, int, int]] = [
        (("spec", "pipelines", name), name, p.pool, p.resources.gpu, p.workers if p.type in DISTRIBUTED_TYPES else 1)
        for name, p in view.spec.pipelines.items()
    ]
    workloads += [
        (("spec", "serving", "endpoints", k), e.name, e.pool, e.resources.gpu, 1)
        for k, e in enumerate(view.spec.serving.endpoints)
    ]
    for path, name, pool_name, gpus, workers in workloads:
        found = pools.get(pool_name or "")
        if found is None or found[1].gpu is None or found[1].sharing.mode == "none":
            continue
        mode = found[1].sharing.mode
        if 1 < gpus <= found[1].gpu.count:  # above the nodes' count is gpu_requests_have_gpu_pools' finding
            yield Finding(
                (*path, "resources", "gpu"),
                f"'{name}' requests {gpus} GPUs on pool '{pool_name}', which shares its GPUs ({mode}); a pod there "
                "gets one shared GPU at most: request 1, or use a pool without sharing",
            )
        if workers > 1:
            yield Finding(
                (*path, "workers"),
                f"'{name}' runs {workers} workers of one distributed job on pool '{pool_name}', which shares its "
                f"GPUs ({mode}); distributed training needs whole GPUs: use a pool without sharing",
            )


# --- EFA, placement groups, reservations ----------------------------------------------------------


@project_rule
def pools_have_their_add_ons(view: ProjectView) -> Iterator[Finding]:
    """A pool is a Karpenter NodePool, and its nodes advertise GPUs and EFA interfaces only
    through the device plugins: without the add-on, the pool's pods stay Pending for good."""
    addons = _addons(view)
    if addons is None:
        return
    for i, pool in enumerate(view.spec.compute.pools):
        if not addons.karpenter.enabled:
            yield Finding(
                _pool(i, "name"),
                f"pool '{pool.name}' needs the platform's `karpenter` add-on, which is off in this environment: "
                "nothing would launch its nodes",
            )
            continue
        if pool.gpu is not None and not addons.nvidia_device_plugin.enabled:
            yield Finding(
                _pool(i, "gpu"),
                f"GPU pool '{pool.name}' needs the platform's `nvidiaDevicePlugin` add-on, which is off in this "
                "environment: its nodes would advertise no `nvidia.com/gpu`, and GPU pods would stay Pending",
            )
        if pool.efa and not addons.efa_device_plugin.enabled:
            yield Finding(
                _pool(i, "efa"),
                f"pool '{pool.name}' asks for EFA, which needs the platform's `efaDevicePlugin` add-on, off in this "
                "environment: its nodes would advertise no `vpc.amazonaws.com/efa`, and its pods would stay Pending",
            )


@project_rule
def workloads_have_their_add_ons(view: ProjectView) -> Iterator[Finding]:
    """Endpoints are KServe InferenceServices; pipelines and the model hub's mirror job are Argo
    workflows. Without the add-on the stack makes none of them and says nothing: the bundle's
    endpoints never serve and its schedules never run. Every project's tracking server reads its
    database credentials from a Secret the External Secrets Operator syncs: without it the Secret
    never exists, MLflow never starts and the first apply times out waiting for it."""
    addons = _addons(view)
    if addons is None:
        return
    if not addons.external_secrets.enabled:
        yield Finding(
            ("spec", "platform"),
            "a project needs the platform's `externalSecrets` add-on, which is off: its "
            "tracking server reads its database credentials through it (MLflow would never start, and the "
            "first apply would time out waiting for it), as do its alert routes and provider keys; ask the "
            "platform team to enable it",
        )
    if view.spec.serving.endpoints and not addons.kserve.enabled:
        yield Finding(
            ("spec", "serving", "endpoints"),
            "endpoints need the platform's `kserve` add-on, which is off in this environment: none of them "
            "would be deployed; ask the platform team to enable it, or remove the endpoints",
        )
    if not addons.argo_workflows.enabled:
        if view.spec.pipelines:
            yield Finding(
                ("spec", "pipelines"),
                "pipelines need the platform's `argoWorkflows` add-on, which is off in this environment: none of "
                "them would be created or run; ask the platform team to enable it",
            )
        if hub_models(view.spec):
            yield Finding(
                ("spec", "llm", "modelHub"),
                "the model hub's mirror job needs the platform's `argoWorkflows` add-on, which is off in this "
                "environment: no base model would be mirrored; ask the platform team to enable it",
            )


@project_rule
def efa_needs_efa_instances(view: ProjectView) -> Iterator[Finding]:
    for i, pool in enumerate(view.spec.compute.pools):
        if not pool.efa:
            continue
        for j, instance_type in enumerate(pool.instance_types):
            facts = facts_of(instance_type)
            if facts is None or facts.efa:
                continue
            family = facts.family
            with_efa = sorted((f for f in _family(family) if f.efa), key=lambda f: (f.vcpus, f.name))
            hint = f"; in {family}, {', '.join(f.name for f in with_efa[:3])} have EFA" if with_efa else ""
            yield Finding(
                _pool(i, "instanceTypes", j),
                f"'{instance_type}' has no Elastic Fabric Adapter, but pool '{pool.name}' sets `efa: true`{hint}",
            )


def _family(family: str) -> list[InstanceFacts]:
    return [f for f in all_facts().values() if f.family == family]


@project_rule
def placement_group_needs_reservations(view: ProjectView) -> Iterator[Finding]:
    """Karpenter 1.8 has no placement-group setting: only reservations made in the group put
    instances in it."""
    for i, pool in enumerate(view.spec.compute.pools):
        if pool.placement_group == "cluster" and pool.reservations is None:
            yield Finding(
                _pool(i, "placementGroup"),
                f"pool '{pool.name}' asks for a cluster placement group, but Karpenter 1.8 launches into one only "
                "through capacity reservations made in it: add `reservations` (create them with "
                "--placement-group-arn of the group mlrig creates)",
            )


@project_rule
def reservations_are_admitted(view: ProjectView) -> Iterator[Finding]:
    """A reservation is paid for by whoever bought it: a project launches only into the ones its
    platform admits for it."""
    if view.platform is None:
        return
    limits = view.platform.tenancy_bounds
    project = view.bundle.metadata.name
    for i, pool in enumerate(view.spec.compute.pools):
        if pool.reservations is None:
            continue
        for k, reservation in enumerate(pool.reservations.ids):
            problem = tenancy.reservation_problem(limits, project, reservation)
            if problem:
                where = view.platform.where("spec", "tenancy", "projects", project)
                yield Finding(_pool(i, "reservations", "ids", k), f"{problem} ({where})")


@project_rule
def reservation_fallback_follows_capacity(view: ProjectView) -> Iterator[Finding]:
    for i, pool in enumerate(view.spec.compute.pools):
        if pool.reservations is None or not pool.reservations.fallback:
            continue
        fallback = pool.reservations.fallback
        if len(set(fallback)) != len(fallback):
            yield Finding(_pool(i, "reservations", "fallback"), f"fallback {fallback} names a capacity type twice")
        elif fallback[0] != pool.capacity:
            yield Finding(
                _pool(i, "reservations", "fallback"),
                f"fallback starts with '{fallback[0]}', but pool '{pool.name}' has `capacity: {pool.capacity}`; "
                f"`capacity` is what the pool launches without reservations, so start with it "
                f"({[pool.capacity, *[c for c in fallback if c != pool.capacity]]}) or change `capacity`",
            )


# --- queues --------------------------------------------------------------------------------------


@project_rule
def queue_share_within_the_pool(view: ProjectView) -> Iterator[Finding]:
    """A share above what `max` nodes hold is a promise the pool cannot keep (and lends phantom
    GPUs to the other projects)."""
    for i, pool in enumerate(view.spec.compute.pools):
        nominal = pool.queue.nominal_gpus
        if nominal is None:
            continue
        if pool.gpu is None:
            yield Finding(_pool(i, "queue", "nominalGpus"), f"pool '{pool.name}' has no GPUs to share in the queue")
            continue
        per_node = gpu_sharing.pool_slices_per_node(pool)
        most = per_node * pool.max if per_node else None
        if most is not None and nominal > most:
            yield Finding(
                _pool(i, "queue", "nominalGpus"),
                f"pool '{pool.name}' holds at most {most} GPU(s) at max {pool.max} node(s); its queue share "
                f"({nominal}) cannot be more: lower it or raise max",
            )


@project_rule
def queued_jobs_fit_their_share(view: ProjectView) -> Iterator[Finding]:
    """Kueue admits a job only when all its pods fit the queue at once: a job larger than its pool's
    share plus what the project may borrow waits for ever."""
    spec = view.spec
    addons = _addons(view)
    if not spec.compute.queueing.enabled or addons is None or not addons.kueue.enabled:
        return
    pools = _unique_pools(spec)
    borrowing = spec.compute.queueing.borrowing_limit
    whole = [p for _, p in pools.values() if p.gpu is not None and p.sharing.mode == "none"]
    shares = {p.name: gpu_sharing.queue_gpu_share(spec, p) for _, p in pools.values()}
    if any(shares[p.name] is None for p in whole):
        return
    whole_share = sum(shares[p.name] or 0 for p in whole)
    for name, pipeline in spec.pipelines.items():
        found = pools.get(pipeline.pool or "")
        pool = found[1] if found is not None else None
        if pool is None or pool.gpu is None or pipeline.resources.gpu == 0:
            continue
        workers = pipeline.workers if pipeline.type in DISTRIBUTED_TYPES else 1
        needs = pipeline.resources.gpu * workers
        share = shares[pool.name]
        if pipeline.resources.gpu > pool.gpu.count or share is None:
            continue  # more than its nodes have, or an unknown type: other rules report it
        if pool.sharing.mode == "none":
            if borrowing is None:
                continue  # may borrow every idle GPU of the environment
            room = whole_share + borrowing
            how = f"the project's whole-GPU share ({whole_share}) plus its borrowing limit ({borrowing})"
            fix = "raise the share (`queue.nominalGpus`) or `borrowingLimit`"
        else:
            room, how = share, f"pool '{pool.name}''s queue share ({share})"
            fix = _shared_pool_fix(spec, pool, needs)
        if needs > room:
            yield Finding(
                ("spec", "pipelines", name, "resources", "gpu"),
                f"'{name}' needs {needs} GPU(s) at once ({workers} × {pipeline.resources.gpu}), more than {how}: "
                f"the queue would never admit it; {fix}",
            )


def _shared_pool_fix(spec: ProjectSpec, pool: ComputePool, needs: int) -> str:
    """What raises a shared pool's queue share: it never borrows, and `queue.nominalGpus` only
    lowers what its `max` nodes hold less what its endpoints take."""
    slices = (gpu_sharing.pool_slices_per_node(pool) or 0) * pool.max
    serving = gpu_sharing.serving_gpus(spec, pool)
    if slices - serving >= needs:
        return "raise the share (`queue.nominalGpus`)"
    return (
        f"its {pool.max} node(s) hold {slices} GPU slice(s) and the queue leaves its endpoints the {serving} they "
        "take at `maxReplicas` (a canary, ab or shadow rollout runs two variants); a shared pool borrows nothing "
        "and `queue.nominalGpus` cannot raise its share: raise the pool's `max` or lower its endpoints' `maxReplicas`"
    )


@project_rule
def queueing_needs_kueue(view: ProjectView) -> Iterator[Finding]:
    addons = _addons(view)
    asked = view.bundle.spec.compute.queueing.enabled
    if asked and addons is not None and not addons.kueue.enabled:
        yield Finding(
            ("spec", "compute", "queueing", "enabled"),
            "queueing needs the platform's `kueue` add-on, which is off in this environment",
        )


# --- serving -------------------------------------------------------------------------------------


@project_rule
def scale_to_zero_has_a_way_back(view: ProjectView) -> Iterator[Finding]:
    """In RawDeployment mode nothing buffers a request while an endpoint has no replica, so an
    endpoint at zero comes back only on its own schedule."""
    addons = _addons(view)
    for k, endpoint in enumerate(view.spec.serving.endpoints):
        scaling = endpoint.autoscaling
        path: Path = ("spec", "serving", "endpoints", k, "autoscaling")
        hours = scaling.awake_hours_utc
        if scaling.min_replicas == 0:
            if hours is None:
                yield Finding(
                    (*path, "minReplicas"),
                    f"endpoint '{endpoint.name}' scales to zero but has no `awakeHoursUtc`: without a request buffer "
                    "(KServe RawDeployment) an endpoint at zero never sees a request that would wake it",
                )
            if addons is not None and not addons.monitoring.enabled:
                yield Finding(
                    (*path, "minReplicas"),
                    f"endpoint '{endpoint.name}' scales to zero, which needs the platform's monitoring add-on "
                    "(KEDA reads Prometheus); without it endpoints scale on CPU and keep one replica",
                )
        elif hours is not None:
            yield Finding(
                (*path, "awakeHoursUtc"),
                "`awakeHoursUtc` applies to endpoints with `minReplicas: 0` only: remove it, or where an environment "
                "override raises `minReplicas`, set `awakeHoursUtc: null` in that override too",
            )
        if hours is not None and hours.start >= hours.end:
            yield Finding((*path, "awakeHoursUtc"), f"start ({hours.start}) must be before end ({hours.end})")


@project_rule
def cpu_scaled_endpoints_have_metrics_server(view: ProjectView) -> Iterator[Finding]:
    """An endpoint that does not scale on its in-flight requests is scaled by KServe's HPA on CPU,
    which it reads from metrics-server: without that add-on the endpoint deploys, keeps its
    minimum replicas and never scales, and nothing fails."""
    addons = _addons(view)
    if addons is None or addons.metrics_server.enabled:
        return
    monitoring = addons.monitoring.enabled
    for k, endpoint in enumerate(view.spec.serving.endpoints):
        scaling = endpoint.autoscaling
        floor = max(scaling.min_replicas, 1)  # the HPA keeps at least one replica
        if scaling.max_replicas <= floor or observability.scales_on_concurrency(endpoint, monitoring=monitoring):
            continue
        why = (
            "the platform's monitoring add-on is off"
            if not monitoring
            else f"its runtime `{endpoint.runtime}` exports no request metrics mlrig reads"
        )
        yield Finding(
            ("spec", "serving", "endpoints", k, "autoscaling", "maxReplicas"),
            f"endpoint '{endpoint.name}' scales on CPU ({why}), which KServe's HPA reads from the platform's "
            f"`metricsServer` add-on, off in this environment: it would keep {floor} replica(s) and never scale; "
            "ask the platform team to enable it, or set `maxReplicas` to the replicas it needs",
        )


@project_rule
def alert_routes_have_alertmanager(view: ProjectView) -> Iterator[Finding]:
    """Every route type but the CloudWatch alarms' (`email`, `sns`) is an Alertmanager receiver
    only: without the monitoring add-on nothing would ever be sent to it."""
    addons = _addons(view)
    if addons is None or addons.monitoring.enabled:
        return
    for i, route in enumerate(view.spec.monitoring.alerts):
        if route.type not in observability.ALARM_ROUTE_TYPES:
            yield Finding(
                ("spec", "monitoring", "alerts", i, "type"),
                f"`{route.type}` routes are served by Alertmanager, part of the platform's `monitoring` add-on, "
                f"which is off in this environment: no alert would ever reach '{route.target}'; ask the platform "
                f"team to enable it, or route alerts to {' or '.join(observability.ALARM_ROUTE_TYPES)} (which "
                "receive the AWS-side alarms only)",
            )


@project_rule
def gpu_idle_alerts_have_gpu_metrics(view: ProjectView) -> Iterator[Finding]:
    """`monitoring.gpuIdle`, when the bundle sets it, asks for an alert over the utilisation the
    platform's DCGM exporter reports: without its add-ons no GPU series exists, and the stack
    creates no such alert, silently. Left at its default, it asks for nothing."""
    addons = _addons(view)
    if addons is None or "gpu_idle" not in view.spec.monitoring.model_fields_set:
        return
    if not any(pool.gpu is not None for pool in view.spec.compute.pools):
        return
    missing = observability.gpu_metrics_missing(addons)
    if missing:
        names = " and ".join(f"`{name}`" for name in missing)
        verb, them = ("is", "it") if len(missing) == 1 else ("are", "them")
        yield Finding(
            ("spec", "monitoring", "gpuIdle"),
            f"`gpuIdle` alerts on the GPU utilisation the platform's DCGM exporter reports to Prometheus, and "
            f"the platform's {names} add-on{'s' if len(missing) > 1 else ''} {verb} off in this environment: no GPU "
            f"of the project's pools would ever be watched; ask the platform team to enable {them}, or set "
            "`gpuIdle` only in the overrides of the environments that have them (`environments.<env>.monitoring`), "
            "or remove it",
        )


@project_rule
def model_cache_mount_is_available(view: ProjectView) -> Iterator[Finding]:
    addons = _addons(view)
    for k, endpoint in enumerate(view.spec.serving.endpoints):
        if endpoint.startup.model_cache != "mount":
            continue
        path: Path = ("spec", "serving", "endpoints", k, "startup", "modelCache")
        if endpoint.runtime not in LARGE_MODEL_RUNTIMES:
            yield Finding(
                path,
                f"`modelCache: mount` reads the model hub, which `vllm` and `huggingface` endpoints serve from; "
                f"'{endpoint.name}' is `{endpoint.runtime}`",
            )
        elif addons is not None and not addons.mountpoint_s3.enabled:
            yield Finding(path, "`modelCache: mount` needs the platform's `mountpointS3` add-on, which is off here")
