"""`mlrig pins check`: does every pinned image tag and chart version exist upstream?

Images and OCI charts are asked for through the OCI distribution API (`GET /v2/<repo>/manifests/
<tag>`), with the anonymous bearer token the registry's `WWW-Authenticate` challenge points to
(ghcr.io, public.ecr.aws, Docker Hub, quay.io, registry.k8s.io all work this way). Charts of https
Helm repositories are looked up in the repository's `index.yaml`. The HTTP layer is a parameter,
so tests stub it; the command uses `urllib`.

Exit codes (the CLI's): 0 every pin exists, 1 a tag or version is missing, 2 a registry could not
be asked (network, rate limit): nothing was proven either way.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from .pins import CHARTS, DOCKER_HUB, IMAGES, ChartPin, ImagePin

# Manifest media types a tag may resolve to (single-platform manifests and multi-platform indexes).
MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)
# Registry hosts whose API lives elsewhere.
API_HOSTS = {DOCKER_HUB: "registry-1.docker.io"}
TIMEOUT_SECONDS = 30

FOUND, MISSING, UNKNOWN = "found", "missing", "unknown"


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes = b""

    def header(self, name: str) -> str:
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), "")


Http = Callable[[str, Mapping[str, str]], Response]


def urllib_get(url: str, headers: Mapping[str, str]) -> Response:
    """GET `url`; HTTP errors are responses, not exceptions (redirects are followed)."""
    request = urllib.request.Request(url, headers=dict(headers), method="GET")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as reply:  # only https URLs of the pins
            return Response(reply.status, dict(reply.headers.items()), reply.read())
    except urllib.error.HTTPError as error:
        return Response(error.code, dict(error.headers.items()) if error.headers else {}, b"")


@dataclass(frozen=True)
class Result:
    kind: str  # "image" | "chart"
    name: str
    reference: str
    status: str  # FOUND | MISSING | UNKNOWN
    detail: str = ""
    source: str = ""

    def as_dict(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "name": self.name,
            "reference": self.reference,
            "status": self.status,
            "detail": self.detail,
            "source": self.source,
        }


# --- the OCI distribution API ----------------------------------------------------------------------

_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')


def bearer_challenge(header: str) -> dict[str, str] | None:
    """`Bearer realm="…",service="…",scope="…"` → its parameters (None for other schemes)."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return dict(_CHALLENGE.findall(rest))


@dataclass
class OciClient:
    http: Http
    tokens: dict[tuple[str, str], str] = field(default_factory=dict)

    def tag_exists(self, registry: str, repository: str, tag: str) -> tuple[str, str]:
        """(status, detail) of `registry/repository:tag`."""
        host = API_HOSTS.get(registry, registry)
        url = f"https://{host}/v2/{repository}/manifests/{urllib.parse.quote(tag, safe='')}"
        headers = {"Accept": MANIFEST_TYPES}
        token = self.tokens.get((host, repository))
        if token:
            headers["Authorization"] = f"Bearer {token}"
        response = self.http(url, headers)
        if response.status == 401 and not token:
            token = self._token(host, repository, response)
            if token is None:
                return UNKNOWN, f"{host} asked for credentials and offered no anonymous token"
            self.tokens[(host, repository)] = token
            response = self.http(url, {**headers, "Authorization": f"Bearer {token}"})
        return _manifest_status(response, host)

    def _token(self, host: str, repository: str, challenge: Response) -> str | None:
        params = bearer_challenge(challenge.header("WWW-Authenticate"))
        if not params or "realm" not in params:
            return None
        query = {"scope": params.get("scope") or f"repository:{repository}:pull"}
        if params.get("service"):
            query["service"] = params["service"]
        reply = self.http(f"{params['realm']}?{urllib.parse.urlencode(query)}", {})
        if reply.status != 200:
            return None
        try:
            body = json.loads(reply.body or b"{}")
        except ValueError:
            return None
        token = body.get("token") or body.get("access_token")
        return str(token) if token else None


def _manifest_status(response: Response, host: str) -> tuple[str, str]:
    if response.status == 200:
        return FOUND, ""
    if response.status == 404:
        return MISSING, f"{host} has no such tag (404)"
    if response.status in (401, 403):
        # Registries answer "denied" for repositories that do not exist as well as for private ones.
        return MISSING, f"{host} denied anonymous access ({response.status}): no such public repository or tag"
    return UNKNOWN, f"{host} answered {response.status}"


# --- Helm chart repositories -----------------------------------------------------------------------


@dataclass
class HelmIndexes:
    http: Http
    indexes: dict[str, dict[str, Any] | None] = field(default_factory=dict)

    def version_exists(self, repository: str, chart: str, version: str) -> tuple[str, str]:
        index = self._index(repository)
        if index is None:
            return UNKNOWN, f"could not read {repository.rstrip('/')}/index.yaml"
        entries = (index.get("entries") or {}).get(chart)
        if not entries:
            return MISSING, f"{repository} has no chart {chart!r}"
        versions = {str(e.get("version")) for e in entries if isinstance(e, dict)}
        if version in versions:
            return FOUND, ""
        return MISSING, f"{repository} has no version {version} of {chart}"

    def _index(self, repository: str) -> dict[str, Any] | None:
        if repository not in self.indexes:
            response = self.http(f"{repository.rstrip('/')}/index.yaml", {"Accept": "application/x-yaml, */*"})
            loaded: dict[str, Any] | None = None
            if response.status == 200:
                try:
                    document = yaml.safe_load(response.body)
                    loaded = document if isinstance(document, dict) else None
                except yaml.YAMLError:
                    loaded = None
            self.indexes[repository] = loaded
        return self.indexes[repository]


# --- checking the pins -----------------------------------------------------------------------------


def oci_chart_location(chart: ChartPin) -> tuple[str, str, str]:
    """(registry, repository, tag) of an `oci://` chart; Helm stores `+` in versions as `_`."""
    host, _, repository = chart.chart.removeprefix("oci://").partition("/")
    return host, repository, chart.version.replace("+", "_")


def check_image(pin: ImagePin, oci: OciClient) -> Result:
    try:
        status, detail = oci.tag_exists(pin.registry, pin.repository, pin.tag)
    except (OSError, ValueError) as error:  # network errors, malformed answers
        status, detail = UNKNOWN, f"{type(error).__name__}: {error}"
    return Result("image", pin.name, pin.reference, status, detail, pin.source)


def check_chart(pin: ChartPin, oci: OciClient, helm: HelmIndexes) -> Result:
    reference = f"{pin.chart}:{pin.version}" if pin.oci else f"{pin.repository} {pin.chart}@{pin.version}"
    try:
        if pin.oci:
            status, detail = oci.tag_exists(*oci_chart_location(pin))
        else:
            assert pin.repository is not None, f"chart {pin.name} has neither an oci:// reference nor a repository"
            status, detail = helm.version_exists(pin.repository, pin.chart, pin.version)
    except (OSError, ValueError) as error:
        status, detail = UNKNOWN, f"{type(error).__name__}: {error}"
    return Result("chart", pin.name, reference, status, detail, pin.source)


def check_pins(
    http: Http | None = None, *, images: Iterable[ImagePin] = IMAGES, charts: Iterable[ChartPin] = CHARTS
) -> list[Result]:
    """Check `images` and `charts` (default: every pin) through `http` (default: urllib)."""
    transport = http or urllib_get
    oci = OciClient(transport)
    helm = HelmIndexes(transport)
    return [*(check_image(p, oci) for p in images), *(check_chart(p, oci, helm) for p in charts)]


def exit_code(results: Iterable[Result]) -> int:
    statuses = {r.status for r in results}
    if MISSING in statuses:
        return 1
    return 2 if UNKNOWN in statuses else 0


MARKS = {FOUND: "ok", MISSING: "MISSING", UNKNOWN: "UNKNOWN"}


def render_text(results: list[Result]) -> str:
    width = max((len(r.name) for r in results), default=0)
    lines = []
    for r in results:
        lines.append(f"{MARKS[r.status]:<8} {r.kind:<5} {r.name:<{width}}  {r.reference}")
        if r.detail:
            lines.append(f"{'':<15}{r.detail}")
    missing = sum(r.status == MISSING for r in results)
    unknown = sum(r.status == UNKNOWN for r in results)
    summary = f"{len(results) - missing - unknown} of {len(results)} pins exist upstream"
    if missing:
        summary += f"; {missing} missing (fix infra/mlrig/pins.py)"
    if unknown:
        summary += f"; {unknown} could not be checked (network or registry error: rerun)"
    return "\n".join([*lines, summary])


def render_json(results: list[Result]) -> str:
    return json.dumps(
        {"ok": exit_code(results) == 0, "pins": [r.as_dict() for r in results]},
        indent=2,
    )
