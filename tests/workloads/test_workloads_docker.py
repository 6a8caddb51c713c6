"""The workloads image, built here (offline base when no registry answers), running
account-service and prober containers on a Docker network of their own."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.images import workloads_image
from tests.support.requirements import require_docker
from tests.support.wait import wait_for
from workloads import base_image

INSPECT_TIMEOUT_S = 60.0

pytestmark = [pytest.mark.docker, pytest.mark.slow]

START_TIMEOUT_S = 60.0
MAX_IMAGE_BYTES = 200 * 1024 * 1024  # regression guard; the image is ~150 MB
NONROOT_UID = "65532"


@pytest.fixture(scope="module")
def docker_engine_module() -> None:
    require_docker()


@pytest.fixture(scope="module")
def image(docker_engine_module: None) -> str:
    return workloads_image()


def _inspect(tag: str) -> dict[str, Any]:
    out = subprocess.run(["docker", "image", "inspect", tag], capture_output=True, text=True,
                         check=True, timeout=INSPECT_TIMEOUT_S).stdout
    info: dict[str, Any] = json.loads(out)[0]
    return info


def test_image_is_small_and_non_root(image: str) -> None:
    info = _inspect(image)
    assert info["Config"]["User"] == f"{NONROOT_UID}:{NONROOT_UID}"
    assert info["Size"] < MAX_IMAGE_BYTES, f"image grew to {info['Size'] / 1e6:.0f} MB"


def test_base_image_build_is_idempotent(docker_engine_module: None) -> None:
    base_image.build()  # builds it if this machine never needed it
    assert base_image.image_exists(base_image.DEFAULT_TAG)
    assert base_image.build() is False  # second call keeps the existing tag


@pytest.fixture(scope="module")
def network_pair(image: str) -> Iterator[tuple[Any, Any, str]]:
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.network import Network

    with Network() as network:
        # As the manifests run them: read-only root filesystem, every capability dropped.
        service = (DockerContainer(image).with_command("account-service")
                   .with_env("POD_NAME", "account-service-7f9c")
                   .with_kwargs(read_only=True, cap_drop=["ALL"])
                   .with_network(network).with_network_aliases("account-service"))
        client = (DockerContainer(image).with_command("prober idle")
                  .with_kwargs(read_only=True, cap_drop=["ALL"]).with_network(network))
        with service, client:
            wait_for(lambda: b'"event": "listening"' in service.get_logs()[0],
                     START_TIMEOUT_S, "account-service container to listen")
            yield service, client, network.name


def _ip(container: Any, network: str) -> str:
    wrapped = container.get_wrapped_container()
    wrapped.reload()
    ip: str = wrapped.attrs["NetworkSettings"]["Networks"][network]["IPAddress"]
    return ip


def test_http_grpc_and_dns_round_trips_between_containers(
    network_pair: tuple[Any, Any, str],
) -> None:
    service, client, network = network_pair
    probes = [
        {"id": "c-http", "kind": "http",
         "url": "http://account-service:8080/api/v1/accounts/acc-1"},
        {"id": "c-grpc", "kind": "grpc", "target": "account-service:9090",
         "method": "/api.AccountService/GetAccount", "request": {"id": "acc-1"}},
        # No server given: the container's resolver (Docker's embedded DNS).
        {"id": "c-dns", "kind": "dns", "name": "account-service"},
    ]
    payload = json.dumps(probes)
    assert "'" not in payload
    exit_code, output = client.exec(["sh", "-c", f"printf '%s' '{payload}' | prober run"])
    assert exit_code == 0, output
    results = {r["id"]: r for r in json.loads(output)}
    service_ip, client_ip = _ip(service, network), _ip(client, network)

    http_result = results["c-http"]
    assert http_result["outcome"] == "ok", http_result
    echo = json.loads(http_result["body"])
    assert echo["served_by"] == "account-service-7f9c"
    assert echo["client"] == http_result["local"]
    assert http_result["local"].startswith(f"{client_ip}:")
    assert http_result["remote"] == f"{service_ip}:8080"

    grpc_result = results["c-grpc"]
    assert grpc_result["outcome"] == "ok", grpc_result
    assert grpc_result["reply"]["echo"]["peer"] == grpc_result["local"]
    assert grpc_result["reply"]["echo"]["served_by"] == "account-service-7f9c"

    dns_result = results["c-dns"]
    assert dns_result["outcome"] == "ok", dns_result
    assert dns_result["answers"] == [service_ip]

    logs = service.get_logs()[0].decode()
    assert '"probe_id": "c-http"' in logs and '"probe_id": "c-grpc"' in logs


def test_containers_run_as_non_root(network_pair: tuple[Any, Any, str]) -> None:
    service, client, _ = network_pair
    for container in (service, client):
        exit_code, output = container.exec(["id", "-u"])
        assert exit_code == 0 and output.decode().strip() == NONROOT_UID
        config = container.get_wrapped_container().attrs["HostConfig"]
        assert config["ReadonlyRootfs"] is True and config["CapDrop"] == ["ALL"]
