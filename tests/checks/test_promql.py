"""The PromQL reading the alert checks rely on."""

from __future__ import annotations

import pytest

from mlrig.checks.promql import analyse, metric_matches


@pytest.mark.parametrize(
    ("expression", "keeps_namespace"),
    [
        ("sum by (pipeline) (increase(x[1h])) > 0", False),
        ("sum(rate(x[5m])) by (namespace) > 0", True),
        ("sum without (pod) (rate(x[5m]))", True),
        ("sum without (namespace) (rate(x[5m]))", False),
        ("sum(x)", False),
        ("1000 * histogram_quantile(0.99, sum by (le, namespace) (rate(b[5m]))) > 3", True),
        ("(sum by (s) (rate(a[5m]))) / (sum by (s) (rate(b[5m]))) > 0.1", False),
        ('max by (pipeline) (argo_workflows_mlrig_drift_score{project="x"}) > 0.3', False),
        ("up == 0", True),
        ("rate(x[5m] offset 1h) > bool 2", True),
    ],
)
def test_the_labels_an_expression_keeps(expression: str, keeps_namespace: bool):
    assert analyse(expression).labels.keeps("namespace") is keeps_namespace


def test_histogram_quantile_drops_le_and_metrics_are_found_by_name_and_regex():
    analysis = analyse(
        'histogram_quantile(0.9, sum by (le, svc) (rate(h_bucket[5m]))) + on(svc) group_left {__name__=~"a_(b|c)"}'
    )
    assert not analysis.labels.keeps("le") and analysis.labels.keeps("svc")
    patterns = analysis.metric_patterns()
    assert ("=", "h_bucket") in patterns and any(metric_matches(p, "a_c") for p in patterns)


def test_unreadable_promql_is_an_error_not_a_verdict():
    with pytest.raises(ValueError):
        analyse("sum by (")
