"""The offline plan engine: runs a Pulumi program in-process under the SDK's mock runtime and
returns every resource it registers, with inputs, mocked outputs and effective options.

Each plan runs in its own copy of the Python context (the SDK keeps its state in ContextVars) and
on its own event loop, so several stacks can be planned one after another in one process without
sharing resources, config or exports.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import gc
import inspect
import json
import logging
import threading
import traceback
import warnings
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi import _types
from pulumi.runtime import config as pulumi_config
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.mocks import MockEngine, MockSettings
from pulumi.runtime.proto import engine_pb2
from pulumi.runtime.rpc_manager import RPCManager
from pulumi.runtime.stack import run_in_stack

from . import runtime
from .mocks import MissingStackReference, PlanMocks
from .monitor import RecordingMonitor

Program = Callable[[], object]
PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # infra/mlrig


class PlanError(Exception):
    """The program failed while planning one stack."""

    def __init__(self, stack: str, message: str):
        self.stack = stack
        self.message = message
        super().__init__(f"{stack}: {message}")


class PlanStalled(PlanError):
    """The program stopped making progress: everything left waits for something that will never
    happen (an output that never resolves, a dependency cycle through an input)."""


STALLED = (
    "the program stopped making progress: what is left waits for outputs that never resolve "
    "(a dependency cycle through an input?); nothing more can be planned"
)


@dataclass
class StackPlan:
    stack: str
    resources: list[dict[str, Any]]
    outputs: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    secret_outputs: list[str] = field(default_factory=list)

    def of_type(self, token: str) -> list[dict[str, Any]]:
        return [r for r in self.resources if r["type"] == token]

    def by_urn(self, urn: str) -> dict[str, Any]:
        for resource in self.resources:
            if resource["urn"] == urn:
                return resource
        raise KeyError(urn)

    def named(self, name: str, token: str | None = None) -> dict[str, Any]:
        """The one resource of this logical name (and type); KeyError when absent or ambiguous."""
        found = [r for r in self.resources if r["name"] == name and (token is None or r["type"] == token)]
        if len(found) != 1:
            raise KeyError(f"{len(found)} resources named {name!r}" + (f" of type {token}" if token else ""))
        return found[0]

    def children(self, urn: str) -> list[dict[str, Any]]:
        return [r for r in self.resources if r["parent"] == urn]

    def as_dict(self) -> dict[str, Any]:
        return {"stack": self.stack, "resources": self.resources, "outputs": self.outputs}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.as_dict(), indent=indent, sort_keys=False)


class _CapturingEngine(MockEngine):
    """Collects the program's log messages; errors fail the plan."""

    def __init__(self) -> None:
        super().__init__(logging.getLogger("mlrig.plan"))
        self.errors: list[str] = []
        self.warnings: list[str] = []

    def Log(self, request: Any) -> None:
        if request.severity == engine_pb2.ERROR:
            self.errors.append(request.message)
        elif request.severity == engine_pb2.WARNING:
            self.warnings.append(request.message)


def plan_stack(
    program: Program,
    *,
    stack: str,
    project: str = "mlrig",
    config: Mapping[str, Any] | None = None,
    stack_outputs: Mapping[str, Mapping[str, Any]] | None = None,
    organization: str = "organization",
    fast: bool = True,
) -> StackPlan:
    """Run `program` as stack `stack` of `project` under mocks and return what it registers.

    `config` is the stack's configuration (`{"mlrig:bundle": "...", "aws:region": "..."}`);
    `stack_outputs` answers `pulumi.StackReference("<org>/<project>/<stack>")`; `fast=False`
    plans under the SDK's stock runtime instead of mlrig's (see `run_program`).
    Raises PlanError with a concise message when the program fails.
    """

    def attempt(linear: bool) -> tuple[RecordingMonitor, ProgramRun]:
        monitor = RecordingMonitor(PlanMocks(stack_outputs))
        run = run_program(
            program,
            monitor,
            stack=stack,
            project=project,
            organization=organization,
            config=config,
            fast=fast,
            linear=linear,
        )
        return monitor, run

    try:
        monitor, run = attempt(linear=True)
    except PlanStalled:
        if not fast:
            raise
        # mlrig's bookkeeping answers as the SDK's does, so this should never be needed; if a
        # program ever stalls under it, the SDK's own bookkeeping decides (and a stall there is
        # the program's: reported, never waited for)
        monitor, run = attempt(linear=False)
    return StackPlan(stack, monitor.ordered(), run.outputs, run.warnings, run.secret_outputs)


@dataclass
class ProgramRun:
    outputs: dict[str, Any]
    secret_outputs: list[str]
    warnings: list[str]


def run_program(
    program: Program,
    monitor: Any,
    *,
    stack: str,
    project: str = "mlrig",
    organization: str = "organization",
    config: Mapping[str, Any] | None = None,
    fast: bool = True,
    linear: bool = True,
) -> ProgramRun:
    """Run `program` against `monitor` in a fresh SDK context on a fresh event loop.

    `fast` is mlrig's runtime: monitor calls inline on the loop's thread (InlineExecutor), the
    cyclic GC paused while the program runs, and the SDK's bookkeeping in linear time
    (`runtime.py`). `fast=False` is the SDK's stock mock runtime (threads, GC on, the SDK's own
    bookkeeping); the SDK's own MockMonitor needs it, as it re-enters the event loop. Both
    register the same resources with the same inputs, dependencies and options."""
    context = contextvars.copy_context()
    loop = asyncio.new_event_loop()
    loop.set_exception_handler(_ignore_unretrieved)
    if fast:
        loop.set_default_executor(InlineExecutor())
    previous_loop = _current_loop()
    asyncio.set_event_loop(loop)
    failed = True
    with warnings.catch_warnings():
        # a failing program leaves the SDK's pending coroutines unawaited; the failure itself is
        # reported once, as a PlanError
        warnings.filterwarnings("ignore", message="coroutine .* was never awaited", category=RuntimeWarning)
        try:
            with _gc_paused(fast), runtime.installed() if fast and linear else nullcontext():
                run = context.run(_run, program, monitor, stack, project, organization, dict(config or {}), fast)
            failed = False
            return run
        finally:
            _close(loop, collect=failed)
            asyncio.set_event_loop(previous_loop)


@contextmanager
def _gc_paused(pause: bool) -> Iterator[None]:
    """The SDK allocates a handful of futures per property of every resource; with pulumi_aws
    loaded the heap is large, and the cyclic collector rescans it again and again during a plan.
    A plan is short-lived, so collection waits until it is done."""
    enabled = gc.isenabled()
    if pause:
        gc.disable()
    try:
        yield
    finally:
        if pause and enabled:
            gc.enable()


class InlineExecutor(concurrent.futures.ThreadPoolExecutor):
    """Runs the SDK's monitor calls on the event loop's thread. A mock monitor answers in
    microseconds and never blocks, so a thread hop per registration only adds latency (and GIL
    contention on a busy machine); the SDK awaits the returned future either way."""

    def __init__(self) -> None:
        super().__init__(max_workers=1)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as error:
            future.set_exception(error)
        return future


def _ignore_unretrieved(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Futures of a failed program's resources are never awaited; that is not news."""
    logging.getLogger("mlrig.plan").debug("asyncio: %s", context.get("message"))


def _current_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        return None


def _close(loop: asyncio.AbstractEventLoop, *, collect: bool) -> None:
    """Cancel what a failed program left behind and let it be collected now, while warnings
    about it are silenced: the failure is already reported once, as a PlanError."""
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_default_executor())
    loop.close()
    if collect or pending:
        del pending
        gc.collect()


def _configure(
    monitor: Any, engine: _CapturingEngine, stack: str, project: str, organization: str, config: dict[str, Any]
) -> None:
    """Fresh SDK settings in the current (copied) context: nothing shared with other plans."""
    MockSettings(
        monitor=monitor,
        engine=engine,
        monitor_features=set(monitor.GetDeploymentInfo(None).supportedFeatures),
        project=project,
        stack=stack,
        organization=organization,
        root_directory=str(Path.cwd()),
        parallel=None,
        dry_run=False,
        legacy_apply_enabled=False,
        callbacks=None,
        outputs=set(),
        lock=threading.Lock(),
        package_refs={},
        base_providers_by_ref={},
    )
    pulumi_settings.SETTINGS.rpc_manager = RPCManager()
    pulumi_settings.ROOT.set(None)
    pulumi_config.set_all_config({k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}, [])


def _run(
    program: Program, monitor: Any, stack: str, project: str, organization: str, config: dict[str, Any], settle: bool
) -> ProgramRun:
    engine = _CapturingEngine()
    _configure(monitor, engine, stack, project, organization, config)
    loop = asyncio.get_event_loop()
    roots: list[Any] = []

    def in_stack() -> Awaitable[None] | None:
        roots.append(pulumi_settings.get_root_resource())  # set inside the SDK's task context
        result = program()
        if settle:
            return _settle(result)
        return result if inspect.isawaitable(result) else None

    watchdog = _Watchdog(loop) if settle else None
    try:
        loop.run_until_complete(run_in_stack(in_stack))
        outputs, secret = loop.run_until_complete(_stack_outputs(roots[0] if roots else None))
    except PlanError:
        raise
    except RuntimeError as error:
        if watchdog is not None and watchdog.stalled:
            raise PlanStalled(stack, STALLED) from None
        raise PlanError(stack, describe_error(error)) from error
    except BaseException as error:
        if isinstance(error, KeyboardInterrupt | SystemExit):
            raise
        raise PlanError(stack, describe_error(error)) from error
    finally:
        if watchdog is not None:
            watchdog.cancel()
    if engine.errors:
        raise PlanError(stack, "; ".join(dict.fromkeys(engine.errors)))
    return ProgramRun(outputs, secret, list(dict.fromkeys(engine.warnings)))


class _Watchdog:
    """Stops the loop when the program can no longer make progress, instead of waiting forever.

    In mlrig's runtime every monitor call is answered on the loop's thread (InlineExecutor): no
    thread and no I/O can wake the loop, only its own callbacks and timers. So when the loop has
    no callback ready and no timer but this one, twice in a row, nothing will ever run again."""

    INTERVAL = 0.5

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._idle = 0
        self.stalled = False
        self._handle = loop.call_later(self.INTERVAL, self._check)

    def _check(self) -> None:
        ready = getattr(self._loop, "_ready", None)
        scheduled = getattr(self._loop, "_scheduled", None)
        if ready is None or scheduled is None:
            return  # a loop without these internals: no watchdog
        if ready or any(not handle.cancelled() for handle in scheduled):
            self._idle = 0
        else:
            self._idle += 1
            if self._idle >= 2:
                self.stalled = True
                self._loop.stop()
                return
        self._handle = self._loop.call_later(self.INTERVAL, self._check)

    def cancel(self) -> None:
        self._handle.cancel()


async def _settle(result: object) -> None:
    """Let every output and registration the program started finish, generation by generation.

    The SDK's own shutdown (`wait_for_rpcs`) waits for the *first* of all pending outputs to
    complete, again and again, re-arming a callback on every pending output each time: quadratic
    in a program with long apply chains. Waiting for whole generations first leaves it nothing
    to do. As soon as anything fails, the SDK's shutdown takes over and raises as usual: a
    failed program can leave outputs that never complete (a dependency cycle, say), and waiting
    for those would never end."""
    if inspect.isawaitable(result):
        await result
    while True:
        with pulumi_settings.SETTINGS.lock:
            pending = {t for t in pulumi_settings.SETTINGS.outputs if not t.done()}
        pending.update(t for t in pulumi_settings.SETTINGS.rpc_manager.rpcs if not t.done())
        if not pending:
            return
        done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
        if any(not t.cancelled() and t.exception() is not None for t in done):
            return


async def _stack_outputs(root: Any) -> tuple[dict[str, Any], list[str]]:
    exported: dict[str, Any] = dict(getattr(root, "outputs", {}) or {})
    values: dict[str, Any] = {}
    secret: list[str] = []
    for key in sorted(exported):
        output = pulumi.Output.from_input(exported[key])
        values[key] = _jsonable(await output.future())
        if await output.is_secret():
            secret.append(key)
    return values, secret


def _jsonable(value: Any) -> Any:
    """An exported value as JSON data; output types (e.g. a cluster's `certificate_authority`)
    become dicts keyed by their wire names, as `pulumi stack output` shows them."""
    if _types.is_output_type(type(value)):
        return _jsonable(_types.output_type_to_dict(value))
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, pulumi.Resource):
        return getattr(value, "_name", type(value).__name__)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def describe_error(error: BaseException) -> str:
    """One line a user can act on: the message and, for bugs, where in mlrig it happened."""
    root = _root_cause(error)
    if isinstance(root, MissingStackReference):
        return str(root)
    if isinstance(root, pulumi.RunError):
        return str(root)
    message = f"{type(root).__name__}: {root}"
    location = _program_location(root)
    return f"{message} (at {location})" if location else message


def _root_cause(error: BaseException) -> BaseException:
    """A user-facing error (a RunError, a missing stack) wrapped by the SDK, else the error."""
    current: BaseException | None = error
    seen: set[int] = set()
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, MissingStackReference | pulumi.RunError):
            return current
        current = current.__cause__ or current.__context__
    return error


def _program_location(error: BaseException) -> str | None:
    """The innermost frame inside the mlrig package (not the SDK's)."""
    frames = traceback.extract_tb(error.__traceback__)
    for frame in reversed(frames):
        path = Path(frame.filename)
        if PACKAGE_ROOT in path.parents and "plan" not in path.relative_to(PACKAGE_ROOT).parts[:1]:
            return f"{path.relative_to(PACKAGE_ROOT.parent)}:{frame.lineno}"
    return None
