"""0.2.0: the gateway-wide caps go (`llm.gateway.requestsPerMinute`, `llm.gateway.monthlyBudgetUsd`).

Nothing ever enforced them: LiteLLM caps a whole proxy only with its database, which the gateway
does not run, and validation now refuses them. Each one, in a project's base or in an
environment's overrides, is commented out with a `# review:` line above it, so the value the team
meant stays in the file until it is moved to a provider's limits (`llm.gateway.limits.<provider>`),
which the gateway enforces across its replicas.
"""

from __future__ import annotations

from collections.abc import Iterator

from ruamel.yaml.comments import CommentedMap

from .document import Document
from .registry import Bundles, Migration
from .versions import CURRENT

CAPS = ("requestsPerMinute", "monthlyBudgetUsd")
REVIEW = (
    "review: never enforced (LiteLLM caps a whole gateway only with its database); "
    "cap each provider in llm.gateway.limits.<provider> instead"
)


def _gateways(document: Document) -> Iterator[tuple[str, CommentedMap]]:
    """(where, mapping) of every `llm.gateway` of a project: its base and each override."""
    if document.kind != "Project":
        return
    scopes: list[tuple[str, object]] = [("spec", document.spec)]
    environments = document.spec.get("environments")
    if isinstance(environments, CommentedMap):
        scopes += [(f"spec.environments.{name}", env) for name, env in environments.items()]
    for where, scope in scopes:
        llm = scope.get("llm") if isinstance(scope, CommentedMap) else None
        gateway = llm.get("gateway") if isinstance(llm, CommentedMap) else None
        if isinstance(gateway, CommentedMap):
            yield f"{where}.llm.gateway", gateway


def _caps(document: Document) -> list[tuple[str, CommentedMap, str]]:
    return [(where, gateway, key) for where, gateway in _gateways(document) for key in CAPS if key in gateway]


def pending(bundles: Bundles) -> list[str]:
    return [
        f"{d.path}: {where}.{key} is a gateway-wide cap nothing enforces" for d in bundles for where, _, key in _caps(d)
    ]


def apply(bundles: Bundles) -> list[str]:
    done = []
    for document in bundles:
        by_hand: set[tuple[str, str]] = set()
        # One edit at a time: each reloads the document, so positions are read afresh.
        while found := next(((w, g, k) for w, g, k in _caps(document) if (w, k) not in by_hand), None):
            where, gateway, key = found
            if document.comment_out(gateway, key, REVIEW):
                done.append(f"{document.path}: {where}.{key} commented out (never enforced; cap each provider instead)")
            else:
                by_hand.add((where, key))
                done.append(
                    f"{document.path}: {where}.{key}: remove it by hand (never enforced; cap each provider instead)"
                )
    return done


MIGRATION = Migration("0004-gateway-caps", CURRENT, "no gateway-wide caps (never enforced)", pending, apply)
