"""What a project's monitors let the platform's shared Prometheus scrape.

The platform runs one Prometheus for every team, and it picks up every PodMonitor and
ServiceMonitor of every namespace. A monitor in a project namespace scrapes servers the team
writes (its model servers' images) or feeds (the LLM gateway labels its counters with the model
and user each caller names). Two things keep one team's monitor from reaching the others:

- it scrapes only its own namespace (no `namespaceSelector` naming another, or `any`): otherwise
  another team's pods land in this team's series, and its alerts read them;
- it bounds each scrape (`tenancy.SCRAPE_LIMITS`): otherwise one `/metrics` answer of a million
  series grows the shared Prometheus until it fails, and every team's alerts go silent with it.

The platform's own monitors (DCGM's, in its namespaces) scrape the platform's exporters.
"""

from __future__ import annotations

from collections.abc import Iterator

from .. import naming
from ..tenancy import SCRAPE_LIMITS
from . import Violation, check
from .graph import Resource, StackGraph, as_list, dig

MONITOR_KINDS = ("PodMonitor", "ServiceMonitor")
MONITOR_TYPES = tuple(f"kubernetes:monitoring.coreos.com/v1:{kind}" for kind in MONITOR_KINDS)


def project_monitors(graph: StackGraph) -> list[Resource]:
    """Monitors in a namespace that is not the platform's own."""
    return [m for m in graph.kubernetes(*MONITOR_KINDS) if m.namespace not in naming.PLATFORM_NAMESPACES]


def foreign_namespaces(monitor: Resource) -> list[str] | None:
    """The namespaces besides its own a monitor's `namespaceSelector` names (None: unknown)."""
    selector = monitor.spec.get("namespaceSelector")
    if selector is None or monitor.namespace is None:
        return [] if selector is None else None
    if dig(selector, "any") is True:
        return ["any"]
    return sorted({str(n) for n in as_list(dig(selector, "matchNames"))} - {monitor.namespace})


@check(
    "MLRIG-SEC-010",
    "A project's monitor scrapes only its own namespace",
    "The shared Prometheus scrapes wherever a monitor's namespaceSelector points: a project monitor "
    "naming another namespace (or any) puts another team's pods into this team's series and alerts.",
    applies_to=MONITOR_TYPES,
)
def monitors_stay_in_their_namespace(graph: StackGraph) -> Iterator[Violation]:
    for monitor in project_monitors(graph):
        foreign = foreign_namespaces(monitor)
        if foreign:
            yield Violation(
                monitor,
                f"{monitor.kind} {monitor.k8s_name} in {monitor.namespace} scrapes namespace(s) {', '.join(foreign)}",
                "leave out `namespaceSelector`: a monitor scrapes its own namespace",
            )


def missing_limits(monitor: Resource) -> list[str]:
    """The scrape limits a monitor leaves out or sets above `SCRAPE_LIMITS`."""
    spec = monitor.spec
    return [
        f"{field} (at most {bound})"
        for field, bound in SCRAPE_LIMITS.items()
        if not isinstance(spec.get(field), int) or not 0 < spec[field] <= bound
    ]


@check(
    "MLRIG-SEC-011",
    "A project's monitor bounds what one scrape may add to the shared Prometheus",
    "A project's servers decide what their /metrics export (the team's images, the gateway's "
    "caller-named labels): unbounded, one answer of a million series grows the shared Prometheus "
    "until it fails, and every team's alerts go silent with it.",
    applies_to=MONITOR_TYPES,
)
def monitors_bound_their_scrapes(graph: StackGraph) -> Iterator[Violation]:
    for monitor in project_monitors(graph):
        missing = missing_limits(monitor)
        if missing:
            yield Violation(
                monitor,
                f"{monitor.kind} {monitor.k8s_name} in {monitor.namespace} sets no bound {', '.join(missing)}",
                "set the monitor's sampleLimit, labelLimit, labelNameLengthLimit and labelValueLengthLimit "
                "(tenancy.SCRAPE_LIMITS)",
            )
