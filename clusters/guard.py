"""Safety guard for existing clusters: never touch a context that is not a kind cluster
unless the user says so explicitly. A kind cluster is a context named `kind-<cluster>` whose
API server is on this machine: a loopback address, or kind's own node name on the Docker
network. The name alone is not enough: `kind-anything` can point at any server."""

from __future__ import annotations

import enum
import ipaddress
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from clusters.errors import RefusedError

KIND_CONTEXT_PREFIX = "kind-"
# kind pkg/cluster/internal/providers/common: APIServerInternalPort. The in-container
# kubeconfig (`kind get kubeconfig --internal`, providers/docker GetAPIServerInternalEndpoint)
# names the API server endpoint node, which nodeutils.APIServerEndpointNode picks: the
# external load balancer with several control planes, else the control-plane node.
KIND_INTERNAL_PORT = 6443
KIND_ENDPOINT_NODE_SUFFIXES = ("-control-plane", "-external-load-balancer")
OVERRIDE = ("Pass --allow-existing-cluster if you mean it (the suite then creates and deletes "
            "its own namespaces and policies there, and never provisions anything).")


class _NameOnly(enum.Enum):
    TOKEN = "name-only"


# Callers that do not pass a kubeconfig get the context-name check only (the behaviour before
# the server check existed); every caller should pass its kubeconfig (None = kubectl's default).
NAME_ONLY = _NameOnly.TOKEN


def check_context(context: str, allow_existing_cluster: bool,
                  kubeconfig: str | _NameOnly | None = NAME_ONLY) -> None:
    """RefusedError unless allowed, or a kind- context whose server is on this machine."""
    if allow_existing_cluster:
        return
    if not context.startswith(KIND_CONTEXT_PREFIX):
        raise RefusedError(
            f"refusing to use kube context {context!r}: its name does not start with "
            f"{KIND_CONTEXT_PREFIX!r}, so it may be a shared or production cluster. Nothing "
            f"was done. {OVERRIDE}")
    if kubeconfig is NAME_ONLY:
        return
    server, proxy, source = kubeconfig_server(kubeconfig, context)
    if proxy:
        # A loopback server reached through a proxy is the proxy host's loopback; kind never
        # writes a proxy-url, so such a context is not plainly a local kind cluster.
        server = f"{server} via proxy {proxy}"
    if proxy or not is_kind_server(context, server):
        raise RefusedError(
            f"refusing to use kube context {context!r}: its API server {server!r} (from "
            f"{source}) is neither a loopback address nor kind's "
            f"{context[len(KIND_CONTEXT_PREFIX):]}-control-plane:{KIND_INTERNAL_PORT} on the "
            f"Docker network, so despite its name it may be a shared or production cluster. "
            f"Nothing was done. {OVERRIDE}")


def is_kind_server(context: str, server: str) -> bool:
    try:
        parts = urlsplit(server)
        host, port = parts.hostname, parts.port
    except ValueError:  # a port that is not a number, an unbalanced [
        return False
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        cluster = context[len(KIND_CONTEXT_PREFIX):]
        return port == KIND_INTERNAL_PORT and host in {
            cluster + suffix for suffix in KIND_ENDPOINT_NODE_SUFFIXES}
    mapped = addr.ipv4_mapped if isinstance(addr, ipaddress.IPv6Address) else None
    return addr.is_loopback or bool(mapped and mapped.is_loopback)


def kubeconfig_files(kubeconfig: str | None) -> tuple[list[Path], bool]:
    """The files kubectl reads, and whether a missing one is an error. client-go
    tools/clientcmd/loader.go (NewDefaultClientConfigLoadingRules, Load): an explicit path
    must exist; $KUBECONFIG is a path list whose missing entries are ignored; else
    ~/.kube/config."""
    if kubeconfig:
        return [Path(kubeconfig)], True
    listed = [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    return ([Path(p) for p in listed] or [Path.home() / ".kube" / "config"]), False


def _named(doc: Any, key: str) -> list[tuple[str, dict[str, Any]]]:
    entries = doc.get(key) if isinstance(doc, dict) else None
    found: list[tuple[str, dict[str, Any]]] = []
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get(key[:-1]), dict):
            found.append((str(entry.get("name", "")), entry[key[:-1]]))
    return found


def kubeconfig_server(kubeconfig: str | None, context: str) -> tuple[str, str, str]:
    """(server URL, proxy-url, the file it came from) of the context's cluster, read without
    running any credential plugin. Merge rule of client-go loader.go Load: the first file
    that names a context or cluster wins. Anything unreadable is a refusal: the server
    cannot be checked."""
    files, must_exist = kubeconfig_files(kubeconfig)
    contexts: dict[str, dict[str, Any]] = {}
    clusters: dict[str, tuple[dict[str, Any], Path]] = {}
    for path in files:
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            if must_exist:
                raise _unreadable(context, path, "no such file") from None
            continue
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise _unreadable(context, path, str(exc).splitlines()[0]) from None
        for name, ctx in _named(doc, "contexts"):
            contexts.setdefault(name, ctx)
        for name, cluster in _named(doc, "clusters"):
            clusters.setdefault(name, (cluster, path))
    where = ", ".join(str(p) for p in files)
    if context not in contexts:
        raise _unreadable(context, where, "the context is not defined there")
    cluster_name = str(contexts[context].get("cluster", ""))
    if cluster_name not in clusters:
        raise _unreadable(context, where, f"its cluster {cluster_name!r} is not defined there")
    cluster, path = clusters[cluster_name]
    return str(cluster.get("server", "")), str(cluster.get("proxy-url") or ""), str(path)


def _unreadable(context: str, where: Path | str, why: str) -> RefusedError:
    return RefusedError(
        f"refusing to use kube context {context!r}: cannot read its API server address from "
        f"{where} ({why}), so it cannot be checked to be a local kind cluster. Nothing was "
        f"done. {OVERRIDE}")
