"""Generate Python modules and type stubs from every .proto under proto/.

The output goes to libs/contracts/gen/ (ignored by git), laid out by package path:
proto/cloudplatform/ops/v1/x.proto becomes the module cloudplatform.ops.v1.x_pb2.
Run by `make contracts`; a stale output folder is removed first, so a deleted .proto
never leaves a module behind.
"""

from __future__ import annotations

import os
import shutil
import sys
from importlib.resources import files
from pathlib import Path

from grpc_tools import protoc

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PROTO = ROOT / "proto"
OUT = HERE / "gen"


def main() -> int:
    sources = sorted(str(p.relative_to(PROTO)) for p in PROTO.rglob("*.proto"))
    if not sources:
        print("no .proto files under proto/", file=sys.stderr)
        return 1
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    # The mypy-protobuf plugins are installed next to this interpreter.
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    well_known = str(files("grpc_tools") / "_proto")
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO}",
        f"-I{well_known}",
        f"--python_out={OUT}",
        f"--grpc_python_out={OUT}",
        f"--mypy_out={OUT}",
        f"--mypy_grpc_out={OUT}",
        *sources,
    ]
    code = protoc.main(args)
    if code != 0:
        print(f"protoc failed with exit code {code}", file=sys.stderr)
        return int(code)
    # Regular packages (with __init__.py) so that imports and mypy resolve them plainly.
    for folder in [OUT / "cloudplatform", *(p for p in (OUT / "cloudplatform").rglob("*") if p.is_dir())]:
        (folder / "__init__.py").touch()
    (OUT / "cloudplatform" / "py.typed").touch()
    print(f"generated {len(sources)} proto file(s) into {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
