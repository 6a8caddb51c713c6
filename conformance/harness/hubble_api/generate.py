"""Regenerate the committed *_pb2.py modules (messages only) from this package's .proto
files; the service wiring is written out in rpc.py.

    python -m conformance.harness.hubble_api.generate

Compiled with the repository root as include path, so the modules import each other as
`conformance.harness.hubble_api.<name>_pb2`. Needs the dev dependency grpcio-tools.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

API_DIR = Path(__file__).resolve().parent
REPO_ROOT = API_DIR.parents[2]
PACKAGE_REL = Path("conformance/harness/hubble_api")
PROTOS = ("flow.proto", "relay.proto", "observer.proto")
GENERATED = tuple(name.replace(".proto", "_pb2.py") for name in PROTOS)


def generate(out_dir: Path) -> list[Path]:
    """Compile every proto into out_dir; returns the generated files."""
    from grpc_tools import protoc  # dev-only dependency, imported on use

    with tempfile.TemporaryDirectory(prefix="zt-hubble-proto-") as tmp:
        args = ["grpc_tools.protoc", f"-I{REPO_ROOT}", f"-I{protoc_include()}",
                f"--python_out={tmp}", *(str(REPO_ROOT / PACKAGE_REL / p) for p in PROTOS)]
        if protoc.main(args) != 0:
            raise RuntimeError(f"protoc failed on {', '.join(PROTOS)} in {PACKAGE_REL}")
        out_dir.mkdir(parents=True, exist_ok=True)
        written = []
        for name in GENERATED:
            target = out_dir / name
            shutil.copyfile(Path(tmp) / PACKAGE_REL / name, target)
            written.append(target)
    return written


def protoc_include() -> Path:
    """grpc_tools' copy of the well-known types (google/protobuf/timestamp.proto, ...)."""
    import grpc_tools

    return Path(grpc_tools.__file__).resolve().parent / "_proto"


def main() -> int:
    for path in generate(API_DIR):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
