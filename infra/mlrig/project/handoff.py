"""What the AWS side of a project environment hands to its Kubernetes side: the project key and
how to reach the databases (their addresses and RDS-managed master secrets)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from .tracking import DatabaseConnection


@dataclass(frozen=True)
class AwsHandoff:
    key_arn: pulumi.Output[str]
    tracking_database: DatabaseConnection
    vector_database: DatabaseConnection | None = None

    @property
    def databases(self) -> list[DatabaseConnection]:
        return [self.tracking_database, *([self.vector_database] if self.vector_database else [])]
