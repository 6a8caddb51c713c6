"""Regenerate account_pb2.py (the messages) from account.proto; the service wiring is
written out in rpc.py.

    python -m workloads.proto.generate [--out DIR]

The proto is compiled with the repository root as include path, so the generated module
knows itself as `workloads.proto.account_pb2`. Needs the dev dependency grpcio-tools; the
generated file is committed, so nothing else does.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

PROTO_DIR = Path(__file__).resolve().parent
REPO_ROOT = PROTO_DIR.parent.parent
PROTO_REL = "workloads/proto/account.proto"
GENERATED = ("account_pb2.py",)


def generate(out_dir: Path) -> list[Path]:
    """Compile the proto into out_dir; returns the generated files."""
    from grpc_tools import protoc  # dev-only dependency, imported on use

    with tempfile.TemporaryDirectory(prefix="zt-proto-") as tmp:
        args = [
            "grpc_tools.protoc", f"-I{REPO_ROOT}", f"--python_out={tmp}",
            str(REPO_ROOT / PROTO_REL),
        ]
        if protoc.main(args) != 0:
            raise RuntimeError(f"protoc failed on {PROTO_REL}")
        out_dir.mkdir(parents=True, exist_ok=True)
        written = []
        for name in GENERATED:
            target = out_dir / name
            shutil.copyfile(Path(tmp) / "workloads" / "proto" / name, target)
            written.append(target)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workloads.proto.generate")
    parser.add_argument("--out", type=Path, default=PROTO_DIR,
                        help="output directory (default: next to account.proto)")
    args = parser.parse_args(argv)
    for path in generate(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
