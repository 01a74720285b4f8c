"""What the AWS side of a project environment hands to its Kubernetes side: the project key, how
to reach the databases (their addresses and RDS-managed master secrets), and what the cluster
objects wait for.

Pulumi creates a resource after everything it depends on and deletes it before them, so a
dependency says both "my pods need this to start" and "remove me first". A dependency on a
component is one on every resource below it, so no cluster object depends on a whole component
that grows with the project: each workload's objects wait for the workload's own identity, for
the capacity their pods run on (their pool's NodePools and EC2NodeClass, the queue if they are
queued), for the repository their image comes from, and for the shared resources, whose number
does not grow with the pipelines, endpoints, pools and registries.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import pulumi

from .tracking import DatabaseConnection


@dataclass(frozen=True)
class Prerequisites:
    """What cluster objects wait for (and outlive on teardown). `shared`: what any object of the
    namespace may need; it does not grow with the project. `by_workload`: what only one workload's
    pods need (its role and the role's policy, its Pod Identity association, its service account).
    `by_pool`: what pods on one pool need (its NodePools and EC2NodeClass: on teardown the pods go
    first and the nodes drain empty). `by_registry`: what pulling an image of one registry needs
    (the ECR repository and its policies). `queued`: what pods admitted through the project's queue
    need (the LocalQueue and the workload priority classes). `serving_priority`: the priority class
    of endpoint replicas on the project's pools."""

    shared: tuple[pulumi.Resource, ...] = ()
    by_workload: Mapping[str, tuple[pulumi.Resource, ...]] = field(default_factory=dict)
    by_pool: Mapping[str, tuple[pulumi.Resource, ...]] = field(default_factory=dict)
    by_registry: Mapping[str, tuple[pulumi.Resource, ...]] = field(default_factory=dict)
    queued: tuple[pulumi.Resource, ...] = ()
    serving_priority: tuple[pulumi.Resource, ...] = ()

    def of(self, *workloads: str) -> list[pulumi.Resource]:
        """What pods running as `workloads` need before they start, wherever they run."""
        return [*self.shared, *(r for w in workloads for r in self.by_workload.get(w, ()))]

    def placed(
        self,
        *,
        pools: Iterable[str | None] = (),
        registries: Iterable[str | None] = (),
        queued: bool = False,
        serving_priority: bool = False,
    ) -> list[pulumi.Resource]:
        """What pods on `pools` pulling images of `registries` need besides their workload's
        (no pool: the general nodes, which the platform keeps). Each resource once."""
        found: list[pulumi.Resource] = []
        for pool in dict.fromkeys(p for p in pools if p):
            found += self.by_pool.get(pool, ())
        for registry in dict.fromkeys(r for r in registries if r):
            found += self.by_registry.get(registry, ())
        if queued:
            found += self.queued
        if serving_priority:
            found += self.serving_priority
        return found

    def plus(self, other: Prerequisites) -> Prerequisites:
        """Both: `other`'s shared and per-workload resources after these (pools, registries and
        queue: `other`'s where it has them)."""
        workloads = {w: (*self.by_workload.get(w, ()), *other.by_workload.get(w, ())) for w in self.by_workload}
        workloads.update({w: rs for w, rs in other.by_workload.items() if w not in self.by_workload})
        return replace(
            self,
            shared=(*self.shared, *other.shared),
            by_workload=workloads,
            by_pool={**self.by_pool, **other.by_pool},
            by_registry={**self.by_registry, **other.by_registry},
            queued=(*self.queued, *other.queued),
            serving_priority=(*self.serving_priority, *other.serving_priority),
        )

    def with_capacity(
        self,
        by_pool: Mapping[str, Sequence[pulumi.Resource]],
        queued: Sequence[pulumi.Resource] = (),
        serving_priority: Sequence[pulumi.Resource] = (),
    ) -> Prerequisites:
        """These, with the capacity pods run on: each pool's NodePools and EC2NodeClass, the queue."""
        return replace(
            self,
            by_pool={**self.by_pool, **{p: tuple(rs) for p, rs in by_pool.items()}},
            queued=(*self.queued, *queued),
            serving_priority=(*self.serving_priority, *serving_priority),
        )


@dataclass(frozen=True)
class AwsHandoff:
    key_arn: pulumi.Output[str]
    tracking_database: DatabaseConnection
    vector_database: DatabaseConnection | None = None
    # The host name of the OpenSearch vector database (None with pgvector or without one).
    vector_search_endpoint: pulumi.Output[str] | None = None
    # The persona and CI deployer roles (and their policies) the namespace's access entries name.
    access_roles: Sequence[pulumi.Resource] = ()
    # The AWS resources pods need before they start: shared ones, and each workload's identity.
    prerequisites: Prerequisites = field(default_factory=Prerequisites)

    @property
    def databases(self) -> list[DatabaseConnection]:
        return [self.tracking_database, *([self.vector_database] if self.vector_database else [])]
