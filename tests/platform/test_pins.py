"""Every image and chart mlrig deploys is pinned in one file, with its source; `mlrig pins check`
asks each registry whether the pinned tag exists (offline here: the HTTP layer is stubbed with a
fake registry that speaks the OCI token dance and serves Helm index files)."""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from mlrig import cli as cli_module
from mlrig import pins, pins_check
from mlrig.pins_check import FOUND, MISSING, UNKNOWN, Response, check_pins, exit_code, render_text

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "infra" / "mlrig"
IMAGE_REFERENCE = re.compile(r"""["'](?:[a-z0-9.-]+\.[a-z]{2,}/|timberio/)[a-z0-9./_-]+:[A-Za-z0-9._-]+["']""")


# --- the pins file --------------------------------------------------------------------------------


def test_every_pin_names_its_source_and_a_concrete_version():
    for pin in pins.IMAGES:
        assert pin.source and pin.tag and pin.tag != "latest" and not pin.tag.startswith("latest"), pin
        assert ":" not in pin.image.rsplit("/", 1)[-1], f"{pin.name}: the tag belongs in `tag`, not in `image`"
    for chart in pins.CHARTS:
        assert chart.source and chart.version, chart
        assert chart.oci != (chart.repository is not None), f"{chart.name}: either oci:// or a Helm repository"
        if chart.repository:
            assert chart.repository.startswith("https://"), chart


def test_pin_names_are_unique():
    names = [p.name for p in (*pins.IMAGES, *pins.CHARTS)]
    assert len(names) == len(set(names))


def test_the_mlflow_image_is_a_full_variant_that_exists_from_3_9_on():
    """`-full` (with psycopg2 and boto3) is published only from MLflow v3.9.0 on: the old pin
    v3.8.1-full never existed, so the tracking server never started."""
    tag = pins.MLFLOW.tag
    assert tag.endswith("-full")
    major, minor, *_ = (int(p) for p in re.findall(r"\d+", tag.removesuffix("-full")))
    assert (major, minor) >= (3, 9)


def test_no_image_reference_is_spelled_outside_the_pins_file():
    """Components read image references from `pins.py`; a literal elsewhere escapes `pins check`."""
    offenders = [
        f"{path.relative_to(ROOT)}: {match.group(0)}"
        for path in PACKAGE.rglob("*.py")
        if path.name != "pins.py"
        for match in IMAGE_REFERENCE.finditer(path.read_text())
    ]
    assert offenders == []


def test_chart_pins_are_what_the_platform_installs():
    from mlrig.platform import versions

    installed = {v for v in vars(versions).values() if isinstance(v, pins.ChartPin)}
    assert installed == set(pins.CHARTS)


@pytest.mark.parametrize(
    ("image", "registry", "repository"),
    [
        ("ghcr.io/mlflow/mlflow", "ghcr.io", "mlflow/mlflow"),
        ("timberio/vector", "docker.io", "timberio/vector"),
        ("busybox", "docker.io", "library/busybox"),
        ("docker.io/library/busybox", "docker.io", "library/busybox"),
        ("registry.k8s.io/pause", "registry.k8s.io", "pause"),
        ("localhost:5000/team/app", "localhost:5000", "team/app"),
    ],
)
def test_image_references_resolve_to_registry_and_repository_as_docker_does(image, registry, repository):
    pin = pins.ImagePin("x", image, "1", "test")
    assert (pin.registry, pin.repository) == (registry, repository)


# --- the checker against a fake registry ------------------------------------------------------------


class FakeUpstream:
    """OCI registries that demand an anonymous bearer token, and Helm repositories' index.yaml."""

    def __init__(self, tags: set[tuple[str, str, str]], charts: Mapping[str, Mapping[str, list[str]]]):
        self.tags = tags  # (api host, repository, tag)
        self.charts = charts  # repository URL -> chart -> versions
        self.calls: list[str] = []

    def __call__(self, url: str, headers: Mapping[str, str]) -> Response:
        self.calls.append(url)
        parsed = urllib.parse.urlparse(url)
        if parsed.path == "/token":
            query = urllib.parse.parse_qs(parsed.query)
            assert query["scope"][0].startswith("repository:") and query["scope"][0].endswith(":pull")
            return Response(200, {}, json.dumps({"token": f"t-{query['scope'][0]}"}).encode())
        match = re.fullmatch(r"/v2/(.+)/manifests/(.+)", parsed.path)
        if match:
            repository, tag = match.group(1), urllib.parse.unquote(match.group(2))
            if headers.get("Authorization") != f"Bearer t-repository:{repository}:pull":
                challenge = (
                    f'Bearer realm="https://{parsed.netloc}/token",service="{parsed.netloc}",'
                    f'scope="repository:{repository}:pull"'
                )
                return Response(401, {"WWW-Authenticate": challenge})
            assert "application/vnd.oci.image.index.v1+json" in headers["Accept"]
            found = (parsed.netloc, repository, tag) in self.tags
            return Response(200 if found else 404, {})
        for repository, charts in self.charts.items():
            if url == f"{repository.rstrip('/')}/index.yaml":
                entries = {c: [{"version": v} for v in versions] for c, versions in charts.items()}
                return Response(200, {}, yaml.safe_dump({"apiVersion": "v1", "entries": entries}).encode())
        return Response(404, {})


def upstream_with_every_pin() -> FakeUpstream:
    tags = {(pins_check.API_HOSTS.get(p.registry, p.registry), p.repository, p.tag) for p in pins.IMAGES} | {
        pins_check.oci_chart_location(c) for c in pins.CHARTS if c.oci
    }
    charts: dict[str, dict[str, list[str]]] = {}
    for chart in pins.CHARTS:
        if chart.repository:
            charts.setdefault(chart.repository, {}).setdefault(chart.chart, ["0.0.1"]).append(chart.version)
    return FakeUpstream(tags, charts)


def test_every_pin_is_found_when_upstream_has_it():
    results = check_pins(upstream_with_every_pin())
    assert [r.status for r in results] == [FOUND] * (len(pins.IMAGES) + len(pins.CHARTS))
    assert exit_code(results) == 0


def test_docker_hub_images_are_asked_for_at_its_api_host():
    upstream = upstream_with_every_pin()
    check_pins(upstream, images=[pins.VECTOR], charts=[])
    assert any(c.startswith("https://registry-1.docker.io/v2/timberio/vector/manifests/") for c in upstream.calls)


def test_a_missing_image_tag_is_reported_and_fails_the_check():
    upstream = upstream_with_every_pin()
    old_mlflow = pins.ImagePin("mlflow", "ghcr.io/mlflow/mlflow", "v3.8.1-full", "the old pin")
    (result,) = check_pins(upstream, images=[old_mlflow], charts=[])
    assert result.status == MISSING and "404" in result.detail
    assert exit_code([result]) == 1
    assert "MISSING" in render_text([result]) and "ghcr.io/mlflow/mlflow:v3.8.1-full" in render_text([result])


def test_a_missing_chart_version_is_reported_for_https_and_oci_charts():
    upstream = upstream_with_every_pin()
    results = check_pins(upstream, images=[], charts=[pins.ARGO_WORKFLOWS.at("0.45.999"), pins.KARPENTER.at("9.9.9")])
    assert [r.status for r in results] == [MISSING, MISSING]
    assert "0.45.999" in results[0].detail


def test_an_unreachable_registry_is_unknown_not_missing():
    def offline(url: str, headers: Mapping[str, str]) -> Response:
        raise OSError("network is unreachable")

    results = check_pins(offline)
    assert {r.status for r in results} == {UNKNOWN}
    assert exit_code(results) == 2


def test_the_command_prints_a_report_and_exits_1_on_a_missing_tag(monkeypatch):
    upstream = upstream_with_every_pin()
    upstream.tags.discard(
        (
            pins_check.API_HOSTS.get(pins.LITELLM.registry, pins.LITELLM.registry),
            pins.LITELLM.repository,
            pins.LITELLM.tag,
        )
    )
    monkeypatch.setattr(pins_check, "urllib_get", upstream)
    result = CliRunner().invoke(cli_module.cli, ["pins", "check"], standalone_mode=False)
    assert result.exit_code == 1
    assert "MISSING  image litellm" in result.output
    result = CliRunner().invoke(cli_module.cli, ["pins", "check", "--format", "json"], standalone_mode=False)
    payload = json.loads(result.output)
    assert payload["ok"] is False
    assert {p["name"] for p in payload["pins"] if p["status"] == "missing"} == {"litellm"}
