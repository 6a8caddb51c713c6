"""Written expectations are checked against the policy model at collection."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conformance.harness.spec import (
    ALLOWED,
    AUDIT,
    L7_DENIED,
    PAYMENT,
    Cell,
    ExpectationMismatch,
    Scenario,
    dropped,
    http,
    version_at_least,
)

REPO = Path(__file__).resolve().parents[2]
POLICY = """\
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: only-get, namespace: payments}
spec:
  endpointSelector: {matchLabels: {app: account-service}}
  ingress:
    - fromEndpoints: [{matchLabels: {app: payment-processor}}]
      toPorts:
        - ports: [{port: "8080", protocol: TCP}]
          rules: {http: [{method: GET, path: /api/v1/accounts}]}
"""


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    (tmp_path / "p.yaml").write_text(POLICY)
    return tmp_path


def test_agreeing_cells_become_parameters(policy_dir: Path) -> None:
    s = Scenario("t", "t", policies=policy_dir, cells=(
        Cell(PAYMENT, http("GET", "/api/v1/accounts"), ALLOWED),
        Cell(PAYMENT, http("DELETE", "/api/v1/accounts"), L7_DENIED),
        Cell(AUDIT, http("GET", "/api/v1/accounts"), dropped("POLICY_DENIED", "ingress")),
    ))
    params = s.params()
    assert [p.id for p in params] == [c.id for c in s.cells]
    s.check_against_model("1.20")
    exp = s.expectation(s.cells[1])
    assert exp.verdict == "l7-denied" and exp.client == "http-403"


def test_disagreement_names_the_probe_and_the_model_verdict(policy_dir: Path) -> None:
    s = Scenario("t", "t", policies=policy_dir, cells=(
        Cell(PAYMENT, http("GET", "/api/v1/accounts"), ALLOWED),
        Cell(PAYMENT, http("DELETE", "/api/v1/accounts"), ALLOWED),
    ))
    s.params()  # the cells are parameters; the model check is the collection's
    with pytest.raises(ExpectationMismatch) as err:
        s.check_against_model("1.20")
    text = str(err.value)
    assert "payment-processor DELETE /api/v1/accounts" in text
    assert "written allowed" in text and "predicts l7-denied" in text
    assert "GET /api/v1/accounts -> account-service:8080 => allowed'" not in text


def test_wrong_drop_reason_or_direction_disagrees(policy_dir: Path) -> None:
    s = Scenario("t", "t", policies=policy_dir, cells=(
        Cell(AUDIT, http("GET", "/api/v1/accounts"), dropped("POLICY_DENIED", "egress")),))
    with pytest.raises(ExpectationMismatch, match="predicts dropped POLICY_DENIED ingress"):
        s.check_against_model("1.19.6")


def test_duplicate_cells_are_rejected(policy_dir: Path) -> None:
    cell = Cell(PAYMENT, http("GET", "/api/v1/accounts"), ALLOWED)
    with pytest.raises(ExpectationMismatch, match="duplicate"):
        Scenario("t", "t", policies=policy_dir, cells=(cell, cell)).params()


def test_policy_the_model_rejects_is_named(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(POLICY.replace(
        "rules: {http: [{method: GET, path: /api/v1/accounts}]}",
        "rules: {http: [{method: GET, headers: [{X-Internal-Service: payment-processor}]}]}"))
    s = Scenario("t", "t", policies=tmp_path,
                 cells=(Cell(PAYMENT, http("GET", "/"), ALLOWED),))
    with pytest.raises(ExpectationMismatch, match="do not load"):
        s.check_against_model("1.18")


def test_collection_error_is_one_clear_message(tmp_path: Path, policy_dir: Path) -> None:
    module = tmp_path / "test_wrong_spec.py"
    module.write_text(textwrap.dedent(f"""
        import pytest
        from pathlib import Path
        from conformance.harness.spec import PAYMENT, ALLOWED, Cell, Scenario, http
        SCENARIO = Scenario("t", "t", policies=Path({str(policy_dir)!r}), cells=(
            Cell(PAYMENT, http("POST", "/api/v1/accounts"), ALLOWED),))

        @pytest.mark.parametrize("cell", SCENARIO.params())
        def test_cell(cell):
            pass
    """))
    # The check is conformance/scenarios/conftest.py's hook; this module borrows it.
    (tmp_path / "conftest.py").write_text(
        "from conformance.scenarios.conftest import pytest_generate_tests  # noqa: F401\n")
    proc = subprocess.run([sys.executable, "-m", "pytest", str(module), "-q",
                           "-p", "no:cacheprovider", f"--rootdir={REPO}"],
                          cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "ERROR collecting" in out
    assert "probe 'payment-processor POST /api/v1/accounts -> account-service:8080 => " \
           "allowed': written allowed, but the policy model" in out
    assert "Traceback" not in out


def test_version_compare() -> None:
    assert version_at_least("1.19.6", "1.19") and version_at_least("1.20.0", "1.19")
    assert not version_at_least("1.18.12", "1.19")


def test_collection_checks_for_the_version_in_pytests_configuration(tmp_path: Path) -> None:
    """--cilium-version reaches the collection check through pytest's config; the
    environment variable is only the option's default (ZTC_CILIUM_VERSION is set to a
    version the cell fails on, and the option wins)."""
    (tmp_path / "conftest.py").write_text(textwrap.dedent("""
        from conformance.scenarios.conftest import pytest_generate_tests  # noqa: F401

        def pytest_addoption(parser):
            parser.addoption("--cilium-version", default=None)
    """))
    (tmp_path / "test_multilevel.py").write_text(textwrap.dedent("""
        import pytest
        from conformance.harness.spec import ALLOWED, PAYMENT, POLICY_ROOT, Cell, Scenario, tcp
        SCENARIO = Scenario("m", "m", policies=POLICY_ROOT / "fqdn-multilevel", cells=(
            Cell(PAYMENT, tcp("api.internal.stripe.com", 443), ALLOWED),))

        @pytest.mark.parametrize("cell", SCENARIO.params())
        def test_cell(cell):
            pass
    """))

    def collect(*args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
        env["ZTC_CILIUM_VERSION"] = "1.18"
        return subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                               "-p", "no:cacheprovider", f"--rootdir={tmp_path}", *args,
                               str(tmp_path / "test_multilevel.py")],
                              cwd=REPO, capture_output=True, text=True, timeout=120,
                              check=False, env=env)

    newer = collect("--cilium-version=1.19.6")
    assert newer.returncode == 0 and "1 test collected" in newer.stdout, newer.stdout
    older = collect("--cilium-version=1.18")
    assert older.returncode != 0
    assert "(Cilium 1.18) predicts dropped" in older.stdout, older.stdout
