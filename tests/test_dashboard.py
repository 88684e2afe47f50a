"""The Grafana dashboard and the alert rules in deploy/ ask only for metrics the replicator
exports: every query's metric names are checked against what a run's endpoint and its metrics
file really expose, so a renamed metric breaks this test instead of an operator's dashboard.
The Indexed Job does not retry an index whose run can never succeed."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from replicator.cli.views.metrics import RunMetrics

DEPLOY = Path(__file__).parent.parent / "deploy"
DASHBOARD = DEPLOY / "grafana-dashboard.json"
RULES = DEPLOY / "prometheus-rules.yaml"
JOB = DEPLOY / "livecopy-indexed-job.yaml"

#: PromQL's words that are not metric names: functions, aggregations, keywords.
PROMQL_WORDS = frozenset(
    """sum min max avg count stddev stdvar topk bottomk quantile count_values group by without on ignoring
    group_left group_right and or unless bool offset rate irate increase delta idelta deriv time
    clamp_min clamp_max abs absent absent_over_time ceil floor round label_values label_replace
    histogram_quantile max_over_time min_over_time avg_over_time sum_over_time count_over_time
    changes resets vector scalar sort sort_desc timestamp""".split()
)


def exported_metric_names(tmp_path: Path) -> set[str]:
    """The names a run exposes at --metrics-port and writes to --metrics-file, read from the
    expositions themselves."""
    metrics = RunMetrics("livecopy")
    metrics.run_started()
    metrics.run_ended(succeeded=True)
    textfile = tmp_path / "replicator.prom"
    metrics.write_textfile(textfile)
    names: set[str] = set()
    for text in (generate_latest(metrics.registry).decode(), textfile.read_text()):
        for family in text_string_to_metric_families(text):
            names.add(family.name + "_total" if family.type == "counter" else family.name)
            names.update(sample.name for sample in family.samples)
    return names


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads: what is left once strings, label matchers,
    grouping clauses, ranges, Grafana's variables and PromQL's own words are taken out."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\blabel_values\(\s*([^,()]+?)\s*,\s*\w+\s*\)", r"\1", expr)  # Grafana's: the label is no metric
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    expr = re.sub(r"\$\w+", "", expr)
    words = set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", expr))
    return {word for word in words if word not in PROMQL_WORDS and not re.fullmatch(r"\d+[smhdwy]", word)}


def dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    queries += [
        variable["query"]["query"] for variable in dashboard["templating"]["list"] if variable["type"] == "query"
    ]
    return queries


def rule_queries() -> list[str]:
    rules = yaml.safe_load(RULES.read_text())
    return [rule["expr"] for group in rules["spec"]["groups"] for rule in group["rules"]]


def test_the_name_check_catches_a_metric_that_is_not_exported(tmp_path: Path) -> None:
    exported = exported_metric_names(tmp_path)
    assert metric_names('sum by (action) (rate(replicator_copied_bytes_total{job=~"$job"}[5m]))') == {
        "replicator_copied_bytes_total"
    }
    assert metric_names("time() - max(replicator_last_sucess_time_seconds) > 3 * 3600") - exported == {
        "replicator_last_sucess_time_seconds"
    }
    assert metric_names('label_values(replicator_listed_images{side="source"}, instance)') == {
        "replicator_listed_images"
    }


@pytest.mark.parametrize("source", ["dashboard", "rules"])
def test_every_query_names_only_metrics_the_replicator_exports(source: str, tmp_path: Path) -> None:
    exported = exported_metric_names(tmp_path)
    queries = dashboard_queries() if source == "dashboard" else rule_queries()
    assert queries
    for query in queries:
        named = metric_names(query)
        assert named, f"no metric in {query!r}"
        assert named <= exported, f"{query!r} reads {sorted(named - exported)}, which the replicator does not export"


def test_the_dashboard_shows_what_an_operator_watches() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    titles = {panel["title"] for panel in dashboard["panels"]}
    assert {"Copy rate", "Last success age", "Bytes behind", "Failed images", "Pruned images"} <= titles
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])
    # Every panel is filtered by the job and instance variables the dashboard offers.
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            assert "$job" in target["expr"] and "$instance" in target["expr"], panel["title"]


def test_the_rules_alert_on_an_old_success_failures_and_refused_prunes() -> None:
    rules = yaml.safe_load(RULES.read_text())
    assert rules["apiVersion"] == "monitoring.coreos.com/v1" and rules["kind"] == "PrometheusRule"
    alerts = {rule["alert"]: rule for group in rules["spec"]["groups"] for rule in group["rules"]}
    assert {"ReplicatorLastSuccessTooOld", "ReplicatorImagesFailed", "ReplicatorPruneRefused"} <= set(alerts)
    assert "replicator_last_success_time_seconds" in alerts["ReplicatorLastSuccessTooOld"]["expr"]
    assert 'action="prune", result="skipped"' in alerts["ReplicatorPruneRefused"]["expr"]
    for rule in alerts.values():
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_the_indexed_job_fails_an_index_whose_run_can_never_succeed() -> None:
    (job,) = [document for document in yaml.safe_load_all(JOB.read_text()) if document and document["kind"] == "Job"]
    rules = job["spec"]["podFailurePolicy"]["rules"]
    (fail_index,) = [rule for rule in rules if rule["action"] == "FailIndex"]
    assert fail_index["onExitCodes"] == {"containerName": "replicator", "operator": "In", "values": [2, 70]}
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["name"] == "replicator"
    # FailIndex needs a per-index backoff limit and pods that are never restarted in place.
    assert job["spec"]["backoffLimitPerIndex"] >= 1
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
