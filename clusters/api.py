"""What the conformance suite's conftest calls: bring up (or reuse, or adopt) a cluster."""

from __future__ import annotations

from dataclasses import dataclass

from clusters.blueprint import make_setup
from clusters.env import Env
from clusters.existing import up_existing
from clusters.provision import down as _down
from clusters.provision import up_kind


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
