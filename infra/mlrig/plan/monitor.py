"""The resource monitor of an offline plan: answers the program through the mocks and records
every registration with its effective options, the way the engine would see it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from google.protobuf import struct_pb2
from pulumi.runtime.mocks import MockCallArgs, MockMonitor, MockResourceArgs, _resolve_callbacks
from pulumi.runtime.proto import provider_pb2, resource_pb2

from .mocks import PlanMocks

SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
ASSET_SIG = "c44067f5952c0a294b673a41bacd8c17"
ARCHIVE_SIG = "0def7320c3a5731c473e5ecbe6d01bc7"
OUTPUT_VALUE_SIG = "d0e6a833031e9bbcd3f4e8bde6ca49a4"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
STACK_TYPE = "pulumi:pulumi:Stack"


def plain(value: Any) -> Any:
    """A protobuf property value as plain JSON data: secrets unwrapped, resource references as
    their URN, integral numbers as ints, unknowns as None."""
    if isinstance(value, struct_pb2.Struct):
        if SIG_KEY in value:
            return _special(value)
        # a Struct is a protobuf map: its order is not stable from one process to the next
        return {k: plain(value[k]) for k in sorted(value.keys())}
    if isinstance(value, struct_pb2.ListValue):
        return [plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if value == UNKNOWN:
        return None
    return value


def _special(value: struct_pb2.Struct) -> Any:
    sig = value[SIG_KEY]
    if sig == SECRET_SIG:
        return plain(value["value"]) if "value" in value else None
    if sig == RESOURCE_SIG:
        return value["urn"]
    if sig == OUTPUT_VALUE_SIG:
        return plain(value["value"]) if "value" in value else None
    if sig == ASSET_SIG:
        return {"asset": {k: plain(v) for k, v in value.items() if k != SIG_KEY}}
    if sig == ARCHIVE_SIG:
        return {"archive": {k: plain(v) for k, v in value.items() if k != SIG_KEY}}
    return {k: plain(value[k]) for k in sorted(value.keys())}


def secret_keys(properties: struct_pb2.Struct) -> set[str]:
    """Top-level properties sent as secrets: the engine keeps their outputs secret too."""
    return {
        k
        for k in properties
        if isinstance(v := properties[k], struct_pb2.Struct) and SIG_KEY in v and v[SIG_KEY] == SECRET_SIG
    }


def to_struct(state: dict[str, Any], secret: set[str] | frozenset[str] = frozenset()) -> struct_pb2.Struct:
    """Plain data as a protobuf Struct; properties named in `secret` go back marked secret."""
    struct = struct_pb2.Struct()
    struct.update({k: {SIG_KEY: SECRET_SIG, "value": v} if k in secret else v for k, v in state.items()})
    return struct


def urn_of_ref(ref: str) -> str | None:
    """A provider reference is `<provider urn>::<provider id>`."""
    return ref.rsplit("::", 1)[0] if ref else None


class DuplicateUrn(RuntimeError):
    """Two resources of one stack registered under one URN (type, parent and name)."""


class RecordingMonitor(MockMonitor):
    """A MockMonitor that keeps every registration with its options (as the plan JSON shows them)."""

    mocks: PlanMocks

    def __init__(self, mocks: PlanMocks):
        super().__init__(mocks)
        self.records: dict[str, dict[str, Any]] = {}
        self.stack_urn: str | None = None
        # One string object per URN: a resource's dependency lists hold the URNs every other
        # resource's lists hold, so a big stack keeps pointers, not millions of copies.
        self._urns: dict[str, str] = {}
        self._sorted: dict[frozenset[str], list[str]] = {}
        self._lock = threading.Lock()

    # --- registrations ------------------------------------------------------------------------

    def RegisterResource(self, request: Any) -> Any:
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type == STACK_TYPE:
            self.stack_urn = urn
            return resource_pb2.RegisterResourceResponse(urn=urn)
        with self._lock:
            if urn in self.records:  # the engine refuses a second registration, as `pulumi up` does
                raise DuplicateUrn(f"Duplicate resource URN '{urn}'; try giving it a unique name")
        inputs = plain(request.object)
        if request.type.startswith("pulumi:providers:"):
            self.mocks.remember_provider(urn, inputs)
        if request.custom:
            args = MockResourceArgs(
                typ=request.type,
                name=request.name,
                inputs=inputs,
                provider=request.provider,
                resource_id=request.importId,
                custom=True,
                transforms=_resolve_callbacks(request.transforms),
            )
            ident, state = self.mocks.new_resource(args)
        else:
            ident, state = "", {}
        self._record(request, urn, ident or "", inputs, state)
        secret = secret_keys(request.object) | set(request.additionalSecretOutputs)
        return resource_pb2.RegisterResourceResponse(urn=urn, id=ident or "", object=to_struct(state, secret))

    def ReadResource(self, request: Any) -> Any:
        urn = self.make_urn(request.parent, request.type, request.name)
        inputs = plain(request.properties)
        args = MockResourceArgs(
            typ=request.type, name=request.name, inputs=inputs, provider=request.provider, resource_id=request.id
        )
        ident, state = self.mocks.new_resource(args)
        self._record(request, urn, ident or request.id, inputs, state, read=True)
        return resource_pb2.ReadResourceResponse(urn=urn, properties=to_struct(state))

    def RegisterResourceOutputs(self, request: Any) -> Any:
        outputs = plain(request.outputs) if request.HasField("outputs") else {}
        with self._lock:
            record = self.records.get(request.urn)
            if record is not None and outputs:
                record["outputs"] = outputs
        return super().RegisterResourceOutputs(request)

    def Invoke(self, request: Any) -> Any:
        if request.tok == "pulumi:pulumi:getResource":
            return self._get_resource(request)
        ret, failures = self.mocks.call(
            MockCallArgs(token=request.tok, args=plain(request.args), provider=request.provider)
        )
        checks = [provider_pb2.CheckFailure(property=p, reason=r) for p, r in failures or []]
        return resource_pb2.ResourceInvokeResponse(failures=checks, **{"return": to_struct(ret)})

    def _get_resource(self, request: Any) -> Any:
        urn = plain(request.args).get("urn")
        with self._lock:
            record = self.records.get(urn)
        if record is None:
            raise KeyError(f"unknown resource {urn}")
        state = {"urn": urn, "id": record["id"] or "", "state": record["outputs"]}
        return resource_pb2.ResourceInvokeResponse(**{"return": to_struct(state)})

    # --- options --------------------------------------------------------------------------------

    def _record(
        self, request: Any, urn: str, ident: str, inputs: dict[str, Any], state: dict[str, Any], *, read: bool = False
    ) -> None:
        parent = request.parent or None
        if parent == self.stack_urn:
            parent = None
        with self._lock:
            parent_record = self.records.get(parent) if parent else None
            options = self._options(request, parent_record, read=read, canonical=self._canonical)
            urn = self._urns.setdefault(urn, urn)
            parent = self._urns.get(parent, parent) if parent else None
            self.records[urn] = {
                "urn": urn,
                "type": request.type,
                "name": request.name,
                "parent": parent,
                "custom": bool(getattr(request, "custom", True)) if not read else True,
                "id": ident if (read or request.custom) else None,
                "inputs": inputs,
                "outputs": state,
                "options": options,
            }
            # top-level inputs the program sent as secrets (`mlrig diff` masks them)
            secret_inputs = sorted(secret_keys(request.properties if read else request.object))
            if secret_inputs:
                self.records[urn]["secretInputs"] = secret_inputs

    def _canonical(self, urns: Iterable[str]) -> list[str]:
        """`urns`, sorted, as the string objects already held for them. Many resources share
        one set of dependencies (every object of a namespace waits for the same AWS side), so
        each distinct set is sorted once."""
        key = frozenset(urns)
        ordered = self._sorted.get(key)
        if ordered is None:
            known = self._urns
            ordered = sorted([known.setdefault(urn, urn) for urn in key])
            self._sorted[frozenset(ordered)] = ordered
        return list(ordered)

    @staticmethod
    def _options(
        request: Any,
        parent: dict[str, Any] | None,
        *,
        read: bool,
        canonical: Callable[[Iterable[str]], list[str]] = sorted,
    ) -> dict[str, Any]:
        if read:
            return {
                "protect": False,
                "retainOnDelete": False,
                "dependsOn": [],
                "provider": urn_of_ref(request.provider),
                "read": True,
            }
        # unset: the engine inherits protection from the parent
        protect = request.protect if request.HasField("protect") else bool(parent and parent["options"]["protect"])
        property_deps: set[str] = set()
        for deps in request.propertyDependencies.values():
            property_deps.update(deps.urns)
        dependencies = canonical(request.dependencies)
        options: dict[str, Any] = {
            "protect": bool(protect),
            "retainOnDelete": bool(request.retainOnDelete) if request.HasField("retainOnDelete") else False,
            # explicit `depends_on` (dependencies that no input property accounts for)
            "dependsOn": [d for d in dependencies if d not in property_deps] if property_deps else list(dependencies),
            "dependencies": dependencies,
            "provider": urn_of_ref(request.provider),
            "deleteBeforeReplace": bool(request.deleteBeforeReplace),
            "ignoreChanges": list(request.ignoreChanges),
        }
        if request.providers:
            options["providers"] = {pkg: urn_of_ref(ref) for pkg, ref in sorted(request.providers.items())}
        if request.replaceOnChanges:
            options["replaceOnChanges"] = list(request.replaceOnChanges)
        if request.deletedWith:
            options["deletedWith"] = request.deletedWith
        if request.importId:
            options["import"] = request.importId
        if request.additionalSecretOutputs:
            options["additionalSecretOutputs"] = list(request.additionalSecretOutputs)
        return options

    # --- results --------------------------------------------------------------------------------

    def ordered(self) -> list[dict[str, Any]]:
        """Resources depth first from the stack, siblings by URN: the same plan every time."""
        children: dict[str | None, list[str]] = {}
        for urn, record in self.records.items():
            parent = record["parent"] if record["parent"] in self.records else None
            children.setdefault(parent, []).append(urn)
        out: list[dict[str, Any]] = []

        def walk(urns: Iterable[str]) -> None:
            for urn in sorted(urns):
                out.append(self.records[urn])
                walk(children.get(urn, ()))

        walk(children.get(None, ()))
        return out
