"""MLRIG-SEC-008: every IAM principal an OpenSearch domain with fine-grained access control lets in
is mapped to a security role, by a Job running as the master user."""

from __future__ import annotations

import json

from .helpers import findings, k8s, policy, record

ACCOUNT = "111111111111"
MASTER = f"arn:aws:iam::{ACCOUNT}:role/demo--prod--wl--vector-admin"
REFRESH = f"arn:aws:iam::{ACCOUNT}:role/demo--prod--wl--index"
SERVING = f"arn:aws:iam::{ACCOUNT}:role/demo--prod--wl--serving"
DOMAIN_ARN = f"arn:aws:es:us-east-1:{ACCOUNT}:domain/demo--prod--vec"


def domain(*clients: str, fgac: bool = True):
    statements = [{"Effect": "Allow", "Principal": {"AWS": MASTER}, "Action": "es:ESHttpPut", "Resource": "x"}]
    if clients:
        statements.append(
            {"Effect": "Allow", "Principal": {"AWS": list(clients)}, "Action": "es:ESHttpGet", "Resource": "y"}
        )
    return record(
        "aws:opensearch/domain:Domain",
        "demo--prod--vec",
        {
            "domainName": "demo--prod--vec",
            "advancedSecurityOptions": {"enabled": fgac, "masterUserOptions": {"masterUserArn": MASTER}},
            "accessPolicies": policy(statements),
        },
        {"arn": DOMAIN_ARN},
    )


def association(service_account: str, role: str):
    return record(
        "aws:eks/podIdentityAssociation:PodIdentityAssociation",
        f"{service_account}-pod-identity",
        {"namespace": "demo", "serviceAccount": service_account, "roleArn": role},
    )


def mapping_job(mappings: dict[str, list[str]], service_account: str = "wl-vector-admin"):
    annotations = {
        "mlrig.io/opensearch-domain": "demo--prod--vec",
        "mlrig.io/opensearch-role-mappings": json.dumps(mappings),
    }
    spec = {"template": {"spec": {"serviceAccountName": service_account, "containers": [{"name": "c"}]}}}
    return k8s("Job", "batch/v1", "vector-access-0123456789", spec, annotations=annotations)


ADMIN = association("wl-vector-admin", MASTER)


def test_a_workload_the_domain_lets_in_but_nothing_maps_gets_403_on_every_call():
    [found] = findings("MLRIG-SEC-008", domain(REFRESH, SERVING), ADMIN, mapping_job({"writer": [REFRESH]}))
    assert SERVING in found.message and "403" in found.message


def test_a_domain_with_clients_and_no_mapping_job_fails_for_each_client():
    assert len(findings("MLRIG-SEC-008", domain(REFRESH, SERVING), ADMIN)) == 2


def test_a_mapping_job_not_running_as_the_master_user_is_refused():
    other = association("wl-index", REFRESH)
    job = mapping_job({"writer": [REFRESH], "reader": [SERVING]}, service_account="wl-index")
    found = findings("MLRIG-SEC-008", domain(REFRESH, SERVING), other, job)
    assert any("not as its master user" in f.message for f in found)


def test_every_client_mapped_by_the_master_users_job_is_fine():
    job = mapping_job({"writer": [REFRESH], "reader": [SERVING]})
    assert findings("MLRIG-SEC-008", domain(REFRESH, SERVING), ADMIN, job) == []


def test_a_domain_without_fine_grained_access_control_needs_no_mapping():
    assert findings("MLRIG-SEC-008", domain(REFRESH, fgac=False)) == []
