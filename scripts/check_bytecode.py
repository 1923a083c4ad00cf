"""Prove that the built functions import from bytecode in Lambda (a step of `make validate`).

Each function of the built template is unpacked the way Lambda gets it (scripts/lambda_artifact.py:
SAM's zip with its 1980 dates, read-only, Lambda's paths and environment) and its handler module
is imported in a fresh interpreter under ``python -v``, which reports how each module was loaded:

    # code object from '/opt/python/httpx/__pycache__/_client.cpython-312.pyc'   bytecode
    # code object from /opt/python/httpx/_client.py                             compiled now

(importlib prints the bytecode path with ``{!r}`` and the source path with ``{}``). One module
compiled from source fails the check, with the reason importlib gave (``bytecode is stale for
'x'`` is a timestamp pyc whose source the zip re-dated; no line at all is a missing pyc).

The same import also shows what SnapStart would freeze: a socket that is connected (or a stream
socket) after the import fails the check, because a snapshot restores it with a peer that no
longer knows it. X-Ray's emitter holds one unconnected UDP socket; each datagram names its
address, so it survives a restore and is only reported.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

from lambda_artifact import BUILT_TEMPLATE, RUNTIME_PROVIDED, UnpackedFunction, unpacked  # noqa: E402

from tests.support import cfn_yaml  # noqa: E402

CODE_OBJECT = re.compile(r"^# code object from (.+)$")
STALE = re.compile(r"^# (bytecode is stale for .+|hash in bytecode doesn't match .+|bad magic number in .+)$")

# Runs in the function's interpreter: import the handler, then describe the sockets left open.
CHILD = r"""
import importlib, json, os, socket, sys
importlib.import_module(sys.argv[1])
sockets = []
for fd in os.listdir("/proc/self/fd"):
    try:
        if not os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
            continue
    except OSError:
        continue
    with socket.socket(fileno=os.dup(int(fd))) as s:
        try:
            peer = str(s.getpeername()) or None
        except OSError:
            peer = None
        sockets.append({"type": s.type.name, "peer": peer})
print(json.dumps(sockets))
"""


class ImportReport:
    """What ``python -v`` said while one handler module was imported."""

    def __init__(self, stderr: str, stdout: str) -> None:
        self.from_bytecode: list[str] = []
        self.from_source: list[str] = []
        self.reasons: dict[str, str] = {}
        last_reason = ""
        for line in stderr.splitlines():
            if stale := STALE.match(line):
                last_reason = stale[1]
            elif code := CODE_OBJECT.match(line):
                where = code[1]
                if where[:1] in "'\"" and where[-1:] == where[:1]:
                    self.from_bytecode.append(where[1:-1])
                else:
                    self.from_source.append(where)
                    self.reasons[where] = last_reason or "no bytecode shipped"
                last_reason = ""
        self.sockets: list[dict[str, str | None]] = json.loads(stdout.strip().splitlines()[-1])

    @property
    def held_connections(self) -> list[dict[str, str | None]]:
        return [s for s in self.sockets if s["peer"] or s["type"] == "SOCK_STREAM"]


def import_verbosely(function: UnpackedFunction, python: str) -> ImportReport:
    """Import ``function``'s handler module as Lambda's init would, under ``python -v``."""
    with tempfile.TemporaryDirectory(prefix="charlee-bytecode-") as cwd:
        process = subprocess.run(  # noqa: S603 - our interpreter, our child code
            [python, "-S", "-s", "-P", "-v", "-c", CHILD, function.module],
            cwd=cwd,
            env=function.environment(),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    if process.returncode != 0:
        tail = "\n".join(process.stderr.splitlines()[-15:])
        raise RuntimeError(f"{function.name}: importing {function.module} failed:\n{tail}")
    return ImportReport(process.stderr, process.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=sys.executable, help="the Lambda runtime's python3.12")
    args = parser.parse_args()
    if not BUILT_TEMPLATE.is_file() or not (RUNTIME_PROVIDED / "boto3").is_dir():
        print("bytecode: run `make validate` (sam build, runtime-provided boto3) first", file=sys.stderr)
        return 2
    failed = False
    with unpacked(cfn_yaml.load(BUILT_TEMPLATE)) as functions:
        for function in functions.values():
            report = import_verbosely(function, args.python)
            for path in report.from_source:
                print(f"bytecode: {function.name}: compiled {path} ({report.reasons[path]})", file=sys.stderr)
            for held in report.held_connections:
                print(f"bytecode: {function.name}: init leaves a connection open: {held}", file=sys.stderr)
            failed |= bool(report.from_source or report.held_connections)
            sockets = [
                f"{s['type']} to {s['peer']}" if s["peer"] else f"unconnected {s['type']}"
                for s in report.sockets
            ]
            print(
                f"bytecode: {function.name}: {len(report.from_bytecode)} modules from bytecode, "
                f"{len(report.from_source)} compiled from source; sockets after import: {sockets or 'none'}"
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
