"""`mlrig cost`: schedules, fixed parts, spot, unknown prices, the snapshot and its refresh."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mlrig import cli as cli_module
from mlrig import examples
from mlrig.bundle.validate import ValidationResult
from mlrig.cost.cron import runs_per_month
from mlrig.cost.estimate import stack_cost
from mlrig.cost.pr_section import section
from mlrig.cost.prices import HOURS_PER_MONTH, PriceBook, price_book, snapshot_path
from mlrig.cost.refresh import on_demand_usd, refresh
from mlrig.cost.render import CostReport, render_markdown, render_text
from mlrig.plan.engine import StackPlan

Plan = Callable[[str, str], StackPlan]


@pytest.mark.parametrize(
    ("schedule", "runs"),
    [
        ("0 3 * * 0", 52 / 12),  # weekly: 2025 has 52 Sundays
        ("0 * * * *", 24 * 365 / 12),  # hourly
        ("*/30 * * * *", 48 * 365 / 12),
        ("0 0 1,15 * *", 2),
        ("0 9 * * 1-5", 261 / 12),  # weekdays of 2025
        ("0 0 1 1 *", 1 / 12),
        ("0 0 13 * 5", (12 + 52 - 1) / 12),  # day 13 OR Friday (cron's rule); one Friday the 13th in 2025
    ],
)
def test_a_schedule_runs_as_often_a_month_as_its_cron_fires(schedule: str, runs: float) -> None:
    assert runs_per_month(schedule) == pytest.approx(runs)


def project(example_result: ValidationResult, name: str) -> Any:
    return example_result.projects[name]


def test_a_multi_az_prod_database_costs_two_instances_and_their_storage(
    example_result: ValidationResult, project_plan: Plan
) -> None:
    cost = stack_cost(project(example_result, "fraud-detection"), "prod", project_plan("fraud-detection", "prod"))
    book = price_book()
    [instance] = [line for line in cost.lines if line.what == "RDS instance"]
    assert instance.monthly == pytest.approx(book.hourly("us-east-1", "rds", "db.m7g.large") * HOURS_PER_MONTH * 2)
    assert "Multi-AZ" in instance.note
    [storage] = [line for line in cost.lines if line.what == "RDS storage"]
    assert storage.monthly == pytest.approx(20 * 0.115 * 2)
    assert cost.total == pytest.approx(sum(line.monthly or 0 for line in cost.lines), abs=0.01)
    assert cost.unpriced == []


def test_dev_schedules_are_suspended_so_they_cost_nothing(example_result: ValidationResult, project_plan: Plan) -> None:
    fraud = project(example_result, "fraud-detection")
    dev = stack_cost(fraud, "dev", project_plan("fraud-detection", "dev"))
    prod = stack_cost(fraud, "prod", project_plan("fraud-detection", "prod"))
    assert dev.part("scheduled") == 0 and all(
        "suspended" in line.note for line in dev.lines if line.part == "scheduled"
    )
    assert prod.part("scheduled") > 0
    # weekly, 120 minutes (the training default), one GPU of a g6.2xlarge (the cheaper type): on
    # demand in prod (its override), spot in staging
    g6 = price_book().hourly("us-east-1", "ec2", "g6.2xlarge")
    [train] = [line for line in prod.lines if line.what == "pipeline train"]
    assert train.monthly == pytest.approx(52 / 12 * 2 * g6, abs=0.01)
    assert "g6.2xlarge" in train.note and "spot" not in train.note
    staging = stack_cost(fraud, "staging", project_plan("fraud-detection", "staging"))
    [train] = [line for line in staging.lines if line.what == "pipeline train"]
    assert train.monthly == pytest.approx(52 / 12 * 2 * g6 * (1 - 0.65), abs=0.01)
    assert "spot g6.2xlarge" in train.note


def test_the_spot_discount_is_an_assumption_the_caller_sets(
    example_result: ValidationResult, project_plan: Plan
) -> None:
    fraud, plan = project(example_result, "fraud-detection"), project_plan("fraud-detection", "prod")
    lines = {
        d: {line.what: line.monthly for line in stack_cost(fraud, "prod", plan, spot_discount=d).lines}
        for d in (0.0, 0.5)
    }
    assert lines[0.5]["pipeline features"] == pytest.approx(lines[0.0]["pipeline features"] / 2, abs=0.01)
    assert any("50% below on-demand" in a for a in stack_cost(fraud, "prod", plan, spot_discount=0.5).assumptions)


def test_an_instance_type_without_a_price_is_reported_never_zero(
    example_result: ValidationResult, project_plan: Plan
) -> None:
    data = json.loads(snapshot_path().read_text())
    for gpu in ("g5.2xlarge", "g6.2xlarge"):
        del data["regions"]["us-east-1"]["ec2"][gpu]
    cost = stack_cost(
        project(example_result, "fraud-detection"),
        "prod",
        project_plan("fraud-detection", "prod"),
        book=PriceBook(data),
    )
    [train] = [line for line in cost.lines if line.what == "pipeline train"]
    assert train.monthly is None
    assert {"ec2 g5.2xlarge in us-east-1", "ec2 g6.2xlarge in us-east-1"} <= set(cost.unpriced)


def test_a_region_without_prices_is_reported(
    example_result: ValidationResult, platform_plan: Callable[[str], StackPlan]
) -> None:
    platform = next(iter(example_result.platforms.values()))
    book = PriceBook({"snapshot": "2026-01-01", "regions": {"eu-west-1": {}}})
    cost = stack_cost(platform, "prod", platform_plan("prod"), book=book)
    assert cost.total == 0 and all(line.monthly is None for line in cost.lines)
    assert "every price in us-east-1 (the snapshot has eu-west-1)" in cost.unpriced


def test_a_total_that_leaves_out_unknown_prices_says_it_is_a_lower_bound(
    example_result: ValidationResult, platform_plan: Callable[[str], StackPlan]
) -> None:
    """A platform in eu-west-3 (no prices in the snapshot) read `Total: $0.00/month`."""
    platform = next(iter(example_result.platforms.values()))
    book = PriceBook({"snapshot": "2026-01-01", "regions": {"eu-west-1": {}}})
    report = CostReport("USD", "2026-01-01", 0.65, [stack_cost(platform, "prod", platform_plan("prod"), book=book)])
    text = render_text(report)
    assert "acme-ml.prod (Platform, us-east-1): at least $0.00/month" in text
    assert "Total: at least $0.00/month for 1 stack(s) (1 with prices the snapshot lacks" in text
    assert "**Total: at least $0.00 / month**" in render_markdown(report)


def test_the_platform_pays_for_its_control_plane_nat_and_system_nodes(
    example_result: ValidationResult, platform_plan: Callable[[str], StackPlan]
) -> None:
    platform = next(iter(example_result.platforms.values()))
    lines = stack_cost(platform, "prod", platform_plan("prod")).lines
    what = [line.what for line in lines]
    assert what.count("NAT gateway") == 3 and what.count("EKS control plane") == 1
    [nodes] = [line for line in lines if line.what == "node group at its minimum"]
    assert nodes.note == "3 × m6i.large" and nodes.monthly == pytest.approx(3 * 0.096 * HOURS_PER_MONTH)


def test_the_snapshot_names_its_date_source_and_filters() -> None:
    data = json.loads(snapshot_path().read_text())
    assert data["snapshot"] and data["currency"] == "USD"
    assert "Price List" in data["source"]["service"]
    assert data["source"]["filters"]["ec2"]["operatingSystem"] == "Linux"
    assert set(data["regions"]["us-east-1"]) >= {"ec2", "rds", "opensearch", "eksClusterHour", "natGatewayHour"}


class StubPricing:
    """The `pricing` client: answers g5.2xlarge only."""

    def __init__(self) -> None:
        self.asked: list[dict[str, Any]] = []

    def get_products(self, **kwargs: Any) -> dict[str, Any]:
        self.asked.append(kwargs)
        terms = {f["Field"]: f["Value"] for f in kwargs["Filters"]}
        if terms.get("instanceType") != "g5.2xlarge":
            return {"PriceList": []}
        item = {"terms": {"OnDemand": {"x": {"priceDimensions": {"y": {"pricePerUnit": {"USD": "1.3000000000"}}}}}}}
        return {"PriceList": [json.dumps(item)]}


def test_refreshing_prices_asks_the_recorded_filters_and_keeps_what_has_no_answer() -> None:
    old = json.loads(snapshot_path().read_text())
    client = StubPricing()
    new, kept = refresh(old, client, ["us-east-1"])
    assert new["regions"]["us-east-1"]["ec2"]["g5.2xlarge"] == 1.3
    assert new["regions"]["us-east-1"]["ec2"]["m6i.large"] == old["regions"]["us-east-1"]["ec2"]["m6i.large"]
    assert "ec2 m6i.large in us-east-1" in kept
    ec2 = next(a for a in client.asked if a["ServiceCode"] == "AmazonEC2")
    fields = {f["Field"]: f["Value"] for f in ec2["Filters"]}
    assert (
        fields["regionCode"] == "us-east-1" and fields["tenancy"] == "Shared" and fields["operatingSystem"] == "Linux"
    )
    assert on_demand_usd(json.dumps({"terms": {}})) is None


def test_cost_json_has_its_documented_shape(tmp_path: Path) -> None:
    examples.copy_to(tmp_path / "bundles")
    result = CliRunner().invoke(
        cli_module.cli,
        ["cost", str(tmp_path / "bundles/fraud-detection.yaml"), "--env", "prod", "--format", "json"],
        standalone_mode=False,
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report) == {"currency", "snapshot", "spotDiscount", "total", "stacks"}
    [stack] = report["stacks"]
    assert set(stack) == {
        "stack",
        "kind",
        "bundle",
        "environment",
        "region",
        "monthly",
        "lines",
        "unpriced",
        "assumptions",
    }
    assert set(stack["monthly"]) == {"fixed", "scheduled", "total"}
    assert set(stack["lines"][0]) == {"part", "what", "resource", "monthly", "note"}


def test_bad_input_gets_validates_diagnostics_and_usage_errors_exit_2(tmp_path: Path) -> None:
    examples.copy_to(tmp_path / "bundles")
    bad = tmp_path / "bundles/fraud-detection.yaml"
    bad.write_text(bad.read_text().replace("capacity: spot\n        max: 8", "capacity: spotty\n        max: 8"))
    result = CliRunner().invoke(cli_module.cli, ["cost", str(bad)], standalone_mode=False)
    assert result.exit_code == 1 and "fraud-detection.yaml:" in result.stderr and "capacity" in result.stderr
    result = CliRunner().invoke(cli_module.cli, ["cost", str(bad), "--spot-discount", "2"], standalone_mode=False)
    assert result.exit_code == 2
    result = CliRunner().invoke(cli_module.cli, ["cost", str(tmp_path / "nowhere")], standalone_mode=False)
    assert result.exit_code == 2


def test_the_pull_request_section_prices_the_plans_the_job_already_made(tmp_path: Path, project_plan: Plan) -> None:
    examples.copy_to(tmp_path / "bundles")
    plan = project_plan("fraud-detection", "prod")
    contract = {"bundle": {}, "environments": {"prod": plan.as_dict()}}
    affected = {"include": [{"stack": "fraud-detection.prod", "environment": "prod", "kind": "Project"}]}
    text = section(affected, {"fraud-detection.prod": contract}, str(tmp_path / "bundles"))
    assert text.startswith("## mlrig cost") and "| `fraud-detection.prod` |" in text and "Total:" in text
    assert section({"include": []}, {}, str(tmp_path / "bundles")) == ""


def test_refresh_prices_writes_a_new_dated_snapshot_where_it_is_told(tmp_path: Path, run: Callable[..., Any]) -> None:
    from mlrig.cost.command import run_refresh_command

    out = tmp_path / "prices.json"
    code, stdout, stderr = run(run_refresh_command, str(out), ["us-east-1"], client=StubPricing())
    assert code == 0, stderr
    written = json.loads(out.read_text())
    assert written["regions"]["us-east-1"]["ec2"]["g5.2xlarge"] == 1.3
    assert "us-east-1 ec2 g5.2xlarge: 1.212 → 1.3" in stdout
    assert "no answer for ec2 m6i.large in us-east-1; kept the old price" in stderr
    assert json.loads(snapshot_path().read_text())["regions"]["us-east-1"]["ec2"]["g5.2xlarge"] == 1.212  # untouched


def test_detail_prints_one_line_per_priced_resource(tmp_path: Path) -> None:
    examples.copy_to(tmp_path / "bundles")
    args = ["cost", str(tmp_path / "bundles/fraud-detection.yaml"), "--env", "dev", "--detail"]
    result = CliRunner().invoke(cli_module.cli, args, standalone_mode=False)
    assert result.exit_code == 0
    assert "fraud-detection-dev-mlflow" in result.stdout and "schedule suspended in this environment" in result.stdout


def test_an_aws_resource_type_without_a_price_rule_is_reported(
    example_result: ValidationResult, project_plan: Plan
) -> None:
    plan = project_plan("fraud-detection", "prod")
    reservation = {
        "urn": "urn:pulumi:fraud-detection.prod::mlrig::aws:ec2/capacityReservation:CapacityReservation::gpus",
        "type": "aws:ec2/capacityReservation:CapacityReservation",
        "name": "gpus",
        "custom": True,
        "inputs": {"instanceType": "p5.48xlarge", "instanceCount": 2},
        "options": {},
    }
    cost = stack_cost(project(example_result, "fraud-detection"), "prod", {"resources": [*plan.resources, reservation]})
    assert "resource type aws:ec2/capacityReservation:CapacityReservation (no price rule)" in cost.unpriced
    assert stack_cost(project(example_result, "fraud-detection"), "prod", plan).unpriced == []


@pytest.mark.parametrize(
    ("region", "message"),
    [
        ("us-east-9", "--region us-east-9: unknown AWS region (did you mean 'us-east-2'?)"),
        ("eu-west-1", "--region eu-west-1: the price snapshot holds no prices for eu-west-1 (it prices us-east-1)"),
    ],
)
def test_refresh_prices_of_a_region_the_snapshot_does_not_price_writes_nothing(
    tmp_path: Path, run: Callable[..., Any], region: str, message: str
) -> None:
    """It wrote an empty price table for the region under today's date, exit 0, as if refreshed."""
    from mlrig.cost.command import run_refresh_command

    out = tmp_path / "prices.json"
    client = StubPricing()
    code, stdout, stderr = run(run_refresh_command, str(out), [region], client=client)
    assert code == 2, (stdout, stderr)
    assert message in stderr and "nothing was written" in stderr
    assert not out.exists() and client.asked == []


def test_the_gateways_counter_store_is_an_always_on_pod_on_on_demand_capacity(
    example_result: ValidationResult, project_plan: Plan
) -> None:
    cost = stack_cost(project(example_result, "rag-assistant"), "prod", project_plan("rag-assistant", "prod"))
    [store] = [line for line in cost.lines if line.resource.endswith("llm-gateway-store")]
    assert store.part == "fixed" and store.what == "always-on pods"
    assert store.monthly and store.monthly > 0 and store.note.startswith("1 × ") and "spot" not in store.note
