"""The committed generated modules are exactly what account.proto compiles to."""

from __future__ import annotations

from pathlib import Path

from workloads.proto import account_pb2
from workloads.proto.generate import GENERATED, PROTO_DIR, generate


def test_regenerating_gives_identical_files(tmp_path: Path) -> None:
    written = generate(tmp_path)
    assert sorted(p.name for p in written) == sorted(GENERATED)
    for name in GENERATED:
        fresh = (tmp_path / name).read_bytes()
        committed = (PROTO_DIR / name).read_bytes()
        assert fresh == committed, (
            f"workloads/proto/{name} is stale: run `python -m workloads.proto.generate`")


def test_wire_paths_are_api_account_service() -> None:
    service = account_pb2.DESCRIPTOR.services_by_name["AccountService"]
    assert service.full_name == "api.AccountService"
    assert sorted(m.name for m in service.methods) == [
        "CreateWithdrawal", "DeleteAccount", "GetAccount", "ListAccounts"]
