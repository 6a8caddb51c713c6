"""The one public entry point of `clusters` for the rest of the project (the suite's
harness and the upgrade run): bring up (or reuse, or adopt) a cluster, guard a context, read
what a cluster runs, and start the emulated cluster. Nothing else of `clusters` is imported
from `conformance` (tests/test_import_contract.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from clusters.blueprint import make_setup
from clusters.detect import detect_api as detect_api
from clusters.emulated.faults import UnknownFault as UnknownFault
from clusters.emulated.faults import check as check_fault
from clusters.env import Env
from clusters.errors import ClustersError as ClustersError
from clusters.existing import up_existing
from clusters.guard import check_context as check_context
from clusters.provision import down as _down
from clusters.provision import up_kind

__all__ = ["ClustersError", "Emulator", "EmulatorStartError", "UnknownFault", "UpOptions",
           "UpResult", "check_context", "check_fault", "detect_api", "down",
           "start_emulator", "up"]


@dataclass(frozen=True)
class UpOptions:
    profile: str = "default"
    cilium_version: str | None = None
    recreate: bool = False
    keep_on_failure: bool = False
    kubeconfig: str | None = None
    context: str | None = None
    allow_existing_cluster: bool = False
    workloads_base: str | None = None  # --build-arg BASE= for workloads/Dockerfile


@dataclass(frozen=True)
class UpResult:
    kubeconfig: str
    context: str
    cilium_version: str
    reused: bool


def up(options: UpOptions, env: Env | None = None) -> UpResult:
    """A kind cluster made/reused from a profile, or (with kubeconfig/context) an existing
    cluster adopted without provisioning. Raises clusters.errors.ClustersError subclasses."""
    env = env or Env()
    if options.kubeconfig is not None or options.context is not None:
        got = up_existing(env, options.kubeconfig, options.context,
                          options.allow_existing_cluster)
    else:
        setup = make_setup(options.profile, options.cilium_version,
                           workloads_base=options.workloads_base)
        got = up_kind(setup, env, options.recreate, options.keep_on_failure)
    return UpResult(got.kubeconfig, got.context, got.cilium_version, got.reused)


def down(profile: str = "default", env: Env | None = None) -> None:
    """Delete the profile's kind cluster and every container `up` started for it."""
    _down(make_setup(profile), env or Env())


class Emulator(Protocol):
    """A running emulated cluster (clusters/emulated/process.py EmulatorProcess)."""

    kubeconfig: str
    context: str

    def stop(self) -> None: ...


class EmulatorStartError(ClustersError):
    """The emulated cluster did not start; the message quotes what it printed."""


def start_emulator(fault: str | None, cilium_version: str | None) -> Emulator:
    """Start the emulated cluster (a child process) with `fault` and release
    `cilium_version` (None: the catalogue's default); UnknownFault for a bad fault name."""
    check_fault(fault)
    from clusters.emulated.process import EmulatorError, EmulatorProcess

    try:
        return EmulatorProcess(fault=fault, cilium_version=cilium_version)
    except (EmulatorError, OSError) as exc:
        raise EmulatorStartError(str(exc)) from None
