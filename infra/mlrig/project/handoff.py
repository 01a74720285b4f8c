"""What the AWS side of a project environment hands to its Kubernetes side: the project key, how
to reach the databases (their addresses and RDS-managed master secrets), and what the cluster
objects wait for.

Pulumi creates a resource after everything it depends on and deletes it before them, so a
dependency says both "my pods need this to start" and "remove me first". A dependency on a
component is one on every resource below it, so no cluster object depends on a whole component
that grows with the project: each workload's objects wait for the workload's own identity, and
for the shared resources, whose number does not grow with the pipelines and endpoints.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi

from .tracking import DatabaseConnection


@dataclass(frozen=True)
class Prerequisites:
    """What cluster objects wait for (and outlive on teardown). `shared`: what any object of the
    namespace may need; it does not grow with the pipelines and endpoints. `by_workload`: what only
    one workload's pods need (its role and the role's policy, its Pod Identity association, its
    service account)."""

    shared: tuple[pulumi.Resource, ...] = ()
    by_workload: Mapping[str, tuple[pulumi.Resource, ...]] = field(default_factory=dict)

    def of(self, *workloads: str) -> list[pulumi.Resource]:
        """What pods running as `workloads` need before they start."""
        return [*self.shared, *(r for w in workloads for r in self.by_workload.get(w, ()))]

    def plus(self, other: Prerequisites) -> Prerequisites:
        """Both: `other`'s shared and per-workload resources after these."""
        workloads = {w: (*self.by_workload.get(w, ()), *other.by_workload.get(w, ())) for w in self.by_workload}
        workloads.update({w: rs for w, rs in other.by_workload.items() if w not in self.by_workload})
        return Prerequisites((*self.shared, *other.shared), workloads)

    def with_shared(self, extra: Sequence[pulumi.Resource]) -> Prerequisites:
        """These, with `extra` needed by every object as well (the pools and queue pods run on)."""
        return Prerequisites((*self.shared, *extra), self.by_workload)


@dataclass(frozen=True)
class AwsHandoff:
    key_arn: pulumi.Output[str]
    tracking_database: DatabaseConnection
    vector_database: DatabaseConnection | None = None
    # The persona and CI deployer roles (and their policies) the namespace's access entries name.
    access_roles: Sequence[pulumi.Resource] = ()
    # The AWS resources pods need before they start: shared ones, and each workload's identity.
    prerequisites: Prerequisites = field(default_factory=Prerequisites)

    @property
    def databases(self) -> list[DatabaseConnection]:
        return [self.tracking_database, *([self.vector_database] if self.vector_database else [])]
