"""Run the real Pulumi program in-process under Pulumi's mock engine and record every resource.

The SDK's own MockResourceArgs lacks parent, dependencies and protect, so the monitor is subclassed to
record the RegisterResource requests themselves. Several stacks run one after another in one process:
the root resource and the runtime's pending outputs are reset before each.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import struct_pb2
from pulumi.runtime import mocks, settings
from pulumi.runtime.config import set_all_config
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from infra.config import PROJECT
from infra.offline import handed_inputs
from infra.offline.gcp_mocks import GCP_MOCK_OUTPUTS
from infra.offline.speedups import answered_outputs, offline_speedups, recorded_inputs

# Outputs a cloud provider would compute, for resources whose outputs the program reads.
MockOutputs = Callable[[str, Mapping[str, Any]], Mapping[str, Any]]
MOCK_OUTPUTS: dict[str, MockOutputs] = {**GCP_MOCK_OUTPUTS}


@dataclass(frozen=True)
class Recorded:
    type: str
    name: str
    urn: str
    parent: str
    provider: str
    dependencies: tuple[str, ...]
    protect: bool
    retain_on_delete: bool
    custom: bool
    inputs: Mapping[str, Any]

    @property
    def ref(self) -> str:
        return urn_ref(self.urn)

    @property
    def is_kubernetes_object(self) -> bool:
        return self.type.startswith("kubernetes:") and "kind" in self.inputs and "apiVersion" in self.inputs


@dataclass
class Run:
    stack: str
    resources: list[Recorded] = field(default_factory=list)


def urn_ref(urn: str) -> str:
    """`urn:pulumi:dev::proj::parent$type::name` -> `type::name`, readable and stable across stacks."""
    if not urn:
        return ""
    urn = urn.split("::")
    return f"{urn[2].split('$')[-1]}::{urn[3]}"


class _Mocks(mocks.Mocks):
    """Only invokes reach this: resources are answered by the monitor itself."""

    def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str, dict]:
        raise NotImplementedError("resources are registered by _RecordingMonitor")

    def call(self, args: mocks.MockCallArgs) -> tuple[dict, None]:
        return {}, None


class _RecordingMonitor(mocks.MockMonitor):
    """Records each RegisterResource request and answers it as a preview would: the outputs are the inputs
    (plus, for the cloud resources in MOCK_OUTPUTS, what the provider would compute; for Kubernetes objects,
    under the speed-ups, only their identity: speedups.answered_outputs).

    The inputs are echoed back in their wire form, so a resource costs one deserialisation (the record)
    instead of the base class's three (its MockResourceArgs, the state it re-serialises, and the record)."""

    def __init__(self, run: Run) -> None:
        super().__init__(_Mocks())
        self.run = run

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type == "pulumi:pulumi:Stack":
            return resource_pb2.RegisterResourceResponse(urn=urn)
        mocks._ensure_event_loop()
        handed = handed_inputs.take(request.object)
        inputs, state = handed if handed is not None else (recorded_inputs(request.object), request.object)
        computed = MOCK_OUTPUTS.get(request.type)
        if computed is not None and handed is not None:
            raise RuntimeError(f"{request.type}: mock outputs need the whole state; only identity was handed over")
        if computed is not None:
            state = struct_pb2.Struct()
            state.CopyFrom(request.object)
            state.update(computed(request.name, inputs))
        provider_urn = request.provider.rsplit("::", 1)[0] if request.provider else ""
        self.run.resources.append(
            Recorded(
                type=request.type,
                name=request.name,
                urn=urn,
                parent=urn_ref(request.parent),
                provider=urn_ref(provider_urn),
                dependencies=tuple(sorted(urn_ref(dep) for dep in request.dependencies)),
                protect=bool(request.protect),
                retain_on_delete=bool(request.retainOnDelete),
                custom=bool(request.custom),
                inputs=inputs,
            )
        )
        answer = answered_outputs(request.type, state)
        return resource_pb2.RegisterResourceResponse(urn=urn, id=f"{request.name}-id", object=answer)


def run_program(stack: str, config: Mapping[str, str], program: Callable[[], None]) -> Run:
    """Run `program` as stack `stack` with the given Pulumi config (string values) and record it."""
    run = Run(stack)
    settings.ROOT.set(None)
    settings.SETTINGS.rpc_manager.clear()
    settings.SETTINGS.outputs.clear()
    set_all_config(dict(config))
    monitor = _RecordingMonitor(run)
    mocks.set_mocks(monitor.mocks, project=PROJECT, stack=stack, preview=True, monitor=monitor, logger=_quiet_logger())
    with offline_speedups():
        _sync_await(run_pulumi_func(program))
    return run


def _quiet_logger() -> logging.Logger:
    logger = logging.getLogger("mlops.offline.engine")
    logger.setLevel(logging.ERROR)
    return logger
