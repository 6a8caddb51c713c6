"""Docker: a hermetic external target container starts on a user-defined network, gets an IP
there, answers HTTP on port 80, and `down`'s cleanup removes it.

Runs with the workloads image (`account-service --role external`) when it is built, and always
with a one-file stand-in image made here (static tiny_http.c, `docker import`), so the
provisioning code is exercised with no registry and no dependency on the image build.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from clusters.env import Env
from clusters.runner import SubprocessRunner
from clusters.targets import remove_targets, start_targets, target_problems
from tests.support.images import workloads_image
from tests.support.requirements import require_docker, unavailable

REQUEST_TIMEOUT_S = 2.0

pytestmark = [pytest.mark.docker, pytest.mark.slow]

TINY_IMAGE = "zt-conformance-test/tiny-http:1"
ANSWER_DEADLINE_S = 30.0
POLL_S = 0.2
TINY_SOURCE = Path(__file__).parent / "data" / "tiny_http.c"


def _image_exists(ref: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", ref], capture_output=True,
                          check=False).returncode == 0


def _tiny_image(tmp: Path) -> str:
    if _image_exists(TINY_IMAGE):
        return TINY_IMAGE
    if shutil.which("gcc") is None:
        unavailable("gcc (to build the stand-in target) is not installed")
    binary = tmp / "tiny-http"
    subprocess.run(["gcc", "-static", "-O2", "-o", str(binary), str(TINY_SOURCE)], check=True)
    rootfs = tmp / "rootfs.tar"
    with tarfile.open(rootfs, "w") as tar:
        tar.add(binary, arcname="tiny-http")
    subprocess.run(["docker", "import", "--change", 'CMD ["/tiny-http"]', str(rootfs),
                    TINY_IMAGE], check=True, capture_output=True)
    return TINY_IMAGE


@pytest.fixture
def network() -> Iterator[str]:
    require_docker()
    name = f"zt-clusters-test-{os.getpid()}"
    subprocess.run(["docker", "network", "create", name], check=True, capture_output=True)
    yield name
    subprocess.run(["docker", "network", "rm", name], check=False, capture_output=True)


def _get(url: str) -> tuple[int, str]:
    deadline = time.monotonic() + ANSWER_DEADLINE_S
    while True:
        try:
            with urllib.request.urlopen(url, timeout=REQUEST_TIMEOUT_S) as resp:
                return resp.status, resp.read().decode(errors="replace")
        except urllib.error.HTTPError as exc:  # an HTTP answer all the same
            return exc.code, exc.read().decode(errors="replace")
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline:
                raise
        time.sleep(POLL_S)  # poll


@pytest.mark.parametrize("kind", ["workloads-image", "stand-in"])
def test_external_target_starts_on_a_user_defined_network_and_answers(
    network: str, tmp_path: Path, kind: str
) -> None:
    command: tuple[str, ...] = ()
    if kind == "workloads-image":
        image = workloads_image()  # the image `up` really runs as targets; CI builds it
        command = ("account-service", "--role", "external", "--tls-name", "{fqdn}")
    else:
        image = _tiny_image(tmp_path)
    env = Env(runner=SubprocessRunner(), tool=lambda name: name, say=lambda _: None)
    cluster = f"zt-ctest-{os.getpid()}"
    try:
        targets = start_targets(env, cluster, network, image, command, ("api.stripe.com",))
        ip = targets["api.stripe.com"]
        assert ip.count(".") == 3
        inspect = subprocess.run(
            ["docker", "network", "inspect", network, "--format",
             "{{range .Containers}}{{.Name}} {{end}}"],
            capture_output=True, text=True, check=True).stdout.split()
        assert f"{cluster}-ext-api-stripe-com" in inspect
        status, _ = _get(f"http://{ip}:80/healthz")
        assert status == 200
        assert target_problems(env, targets, cluster, network) == []
    finally:
        removed = remove_targets(env, cluster)
    assert removed == 1
    assert target_problems(env, targets, cluster, network) == [
        f"external target {cluster}-ext-api-stripe-com is missing"]
