"""MLRIG-SEC-010 and MLRIG-SEC-011: a project's monitor scrapes its own namespace, within bounds."""

from __future__ import annotations

from mlrig.checks import catalogue
from mlrig.tenancy import SCRAPE_LIMITS

from .helpers import findings, k8s

API = "monitoring.coreos.com/v1"
ENDPOINTS = [{"portNumber": 8080, "path": "/metrics"}]


def pod_monitor(namespace: str = "fraud-detection", **spec):
    return k8s("PodMonitor", API, "mlrig-predictors", {"podMetricsEndpoints": ENDPOINTS, **spec}, namespace=namespace)


def test_a_project_monitor_naming_another_teams_namespace_is_reported():
    selector = {"matchNames": ["fraud-detection", "rag-assistant"]}
    [found] = findings("MLRIG-SEC-010", pod_monitor(namespaceSelector=selector, **SCRAPE_LIMITS))
    assert "rag-assistant" in found.message and "fraud-detection" not in found.message.split("scrapes")[1]


def test_a_project_monitor_scraping_every_namespace_is_reported():
    [found] = findings("MLRIG-SEC-010", pod_monitor(namespaceSelector={"any": True}, **SCRAPE_LIMITS))
    assert "any" in found.message


def test_a_project_monitor_of_its_own_namespace_passes():
    assert findings("MLRIG-SEC-010", pod_monitor(**SCRAPE_LIMITS)) == []
    own = {"matchNames": ["fraud-detection"]}
    assert findings("MLRIG-SEC-010", pod_monitor(namespaceSelector=own, **SCRAPE_LIMITS)) == []


def test_a_team_server_scraped_without_bounds_is_reported():
    # The team's own image decides what /metrics answers: one answer of a million series would grow
    # the shared Prometheus until it fails, silencing every team's alerts.
    [found] = findings("MLRIG-SEC-011", pod_monitor())
    assert all(field in found.message for field in SCRAPE_LIMITS)


def test_a_bound_above_the_platforms_is_reported():
    loose = {**SCRAPE_LIMITS, "sampleLimit": SCRAPE_LIMITS["sampleLimit"] * 100}
    [found] = findings("MLRIG-SEC-011", pod_monitor(**loose))
    assert "sampleLimit" in found.message and "labelLimit" not in found.message


def test_a_bounded_project_monitor_passes():
    assert findings("MLRIG-SEC-011", pod_monitor(**SCRAPE_LIMITS)) == []


def test_the_platforms_own_monitors_are_not_held_to_project_bounds():
    dcgm = k8s("PodMonitor", API, "dcgm-exporter", {"podMetricsEndpoints": ENDPOINTS}, namespace="kube-system")
    assert findings("MLRIG-SEC-011", dcgm) == []
    assert findings("MLRIG-SEC-010", dcgm) == []


def test_both_checks_fail_the_plan():
    assert catalogue()["MLRIG-SEC-010"].enforcement == "mandatory"
    assert catalogue()["MLRIG-SEC-011"].enforcement == "mandatory"
