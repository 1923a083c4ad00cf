"""The built functions as Lambda loads them: SAM's zip round trip, read-only, Lambda's paths.

`sam build` leaves each function and layer in ``.aws-sam/build/<LogicalId>``; `sam deploy` zips
each folder the way SAM's packager does (every entry dated 1980-01-01, mode 0755 or 0644) and
Lambda unpacks the function to /var/task and each layer to /opt, both read-only. ``unpacked``
does that round trip into a scratch folder, so what a check or a benchmark imports is what
ships, not the build folder (whose timestamp pycs still match their sources there).

Each function then runs in a fresh interpreter whose import path is Lambda's order

    <scratch>/<Function>/              the function's code  (/var/task)
    <scratch>/<Layer>/python/          each layer           (/opt/python)
    .aws-sam/runtime-provided/         boto3 + botocore, as the Lambda runtime provides them

with the environment Lambda sets at init (``LAMBDA_TASK_ROOT`` among it: Powertools and the
X-Ray SDK only trace inside Lambda) and the function's own variables from the template.
``PYTHONDONTWRITEBYTECODE=1`` stands in for the read-only mounts, which root ignores.

Used by scripts/check_bytecode.py and bench/cold_start.py.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
import time
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / ".aws-sam" / "build"
BUILT_TEMPLATE = BUILD / "template.yaml"
RUNTIME_PROVIDED = ROOT / ".aws-sam" / "runtime-provided"
REGION = "us-east-1"
# What a variable that names another resource (!Ref CollectQueue ...) reads as at import time.
UNRESOLVED = "unresolved-at-import"


@dataclass(frozen=True)
class UnpackedFunction:
    """One function of the built template, unpacked as Lambda would: where its code is, how it runs."""

    name: str
    handler: str  # "module.attribute"
    paths: tuple[Path, ...]  # the import path, in Lambda's order
    memory_mb: int
    timeout_s: int
    variables: Mapping[str, str]  # the template's Environment.Variables (references unresolved)

    @property
    def module(self) -> str:
        return self.handler.rpartition(".")[0]

    @property
    def task_root(self) -> Path:
        return self.paths[0]

    def environment(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """What Lambda sets at init, over ``base``, with the function's variables on top."""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "TZ": ":UTC",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
            "AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000",
            "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
            **(base or {}),
            **self.variables,
            "AWS_LAMBDA_FUNCTION_NAME": self.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "_HANDLER": self.handler,
            "LAMBDA_TASK_ROOT": str(self.task_root),
            "LAMBDA_RUNTIME_DIR": str(self.paths[-1]),
            "PYTHONPATH": os.pathsep.join(str(p) for p in self.paths),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        return env


def zip_like_sam(folder: Path, archive: Path) -> None:
    """``folder`` zipped the way `sam package` does: every entry dated 1980-01-01 (ZipInfo's default)."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for root, _dirs, files in os.walk(folder, followlinks=True):
            for name in sorted(files):
                path = Path(root, name)
                info = zipfile.ZipInfo(str(path.relative_to(folder)))
                info.external_attr = (0o100755 if os.access(path, os.X_OK) else 0o100644) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                zipped.writestr(info, path.read_bytes())


def unzip_read_only(archive: Path, into: Path) -> None:
    """``archive`` unpacked with its entries' dates (as unzip keeps them), then made read-only."""
    with zipfile.ZipFile(archive) as zipped:
        for info in zipped.infolist():
            target = Path(zipped.extract(info, into))
            mtime = time.mktime((*info.date_time, 0, 0, -1))
            os.utime(target, (mtime, mtime))
    _set_writable(into, writable=False)


def _set_writable(folder: Path, *, writable: bool) -> None:
    write = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
    for path in [*folder.rglob("*"), folder]:
        mode = path.stat().st_mode
        path.chmod((mode | stat.S_IWUSR) if writable else (mode & ~write))


@contextlib.contextmanager
def unpacked(template: Mapping[str, Any], build: Path = BUILD) -> Iterator[dict[str, UnpackedFunction]]:
    """Every function of the built ``template``, its code and layers round-tripped through SAM's zip."""
    from tests.support import cfn_yaml  # the project root is on sys.path in every caller

    scratch = Path(tempfile.mkdtemp(prefix="charlee-artifact-"))
    try:
        folders: dict[str, Path] = {}

        def round_trip(uri: str) -> Path:
            if uri not in folders:
                archive = scratch / f"{len(folders)}.zip"
                zip_like_sam(build / uri, archive)
                folders[uri] = scratch / str(len(folders))
                unzip_read_only(archive, folders[uri])
            return folders[uri]

        functions: dict[str, UnpackedFunction] = {}
        for name in cfn_yaml.resources(template, "AWS::Serverless::Function"):
            props = cfn_yaml.function_properties(template, name)
            layers = [
                round_trip(template["Resources"][layer["Ref"]]["Properties"]["ContentUri"]) / "python"
                for layer in props.get("Layers", [])
            ]
            variables = {}
            for key, value in props.get("Environment", {}).get("Variables", {}).items():
                resolved = cfn_yaml.resolve_defaults(template, value)
                variables[key] = str(resolved) if isinstance(resolved, str | int) else UNRESOLVED
            functions[name] = UnpackedFunction(
                name=name,
                handler=props["Handler"],
                paths=(round_trip(props["CodeUri"]), *layers, RUNTIME_PROVIDED),
                memory_mb=int(props.get("MemorySize", 128)),
                timeout_s=int(props.get("Timeout", 3)),
                variables=variables,
            )
        yield functions
    finally:
        _set_writable(scratch, writable=True)
        shutil.rmtree(scratch, ignore_errors=True)
