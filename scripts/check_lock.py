"""`make validate`: the layer's lock is current, and (where its service answers) pip-audit it.

shared/requirements.in holds the ranges we test; `make lock` compiles them into
shared/requirements.txt: every package the layer installs, at one version, with its hashes (the
layer's build installs it with --require-hashes, shared/Makefile). The lock is current when
every requirement of the input (its markers read for the Lambda runtime: CPython 3.12 on Linux
x86_64) is pinned inside its range, the lock names exactly the input's requirements as its own
(pip-compile's "via -r" notes), and every pin carries a hash. Anything else: run `make lock`.

``--audit``: then run pip-audit on the lock, against PyPI's vulnerability data. Where that
service cannot answer (no network, or an index that serves no per-release JSON), one line says
so and why; the audit is not counted as passed.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
INPUT = ROOT / "shared" / "requirements.in"
LOCK = ROOT / "shared" / "requirements.txt"
LAMBDA = {
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "python_version": "3.12",
    "python_full_version": "3.12.0",
    "os_name": "posix",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class Pin:
    version: str
    hashes: int = 0
    via_input: bool = False
    via: list[str] = field(default_factory=list)


def read_input(path: Path = INPUT) -> list[Requirement]:
    requirements = []
    for line in path.read_text().splitlines():
        text = line.split(" #", 1)[0].strip()
        if text and not text.startswith(("#", "-")):
            requirements.append(Requirement(text))
    return requirements


def read_lock(path: Path = LOCK) -> dict[str, Pin]:
    pins: dict[str, Pin] = {}
    current: Pin | None = None
    for line in path.read_text().splitlines():
        pinned = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", line)
        if pinned:
            current = pins[canonical(pinned[1])] = Pin(pinned[2])
        elif current is not None and "--hash=sha256:" in line:
            current.hashes += 1
        elif current is not None and line.strip().startswith("#"):
            note = line.strip().lstrip("#").strip().removeprefix("via").strip()
            if note.startswith("-r ") and note.endswith("requirements.in"):
                current.via_input = True
    return pins


def problems(requirements: list[Requirement], pins: dict[str, Pin]) -> list[str]:
    found = []
    if "with Python 3.12" not in LOCK.read_text()[:400]:
        found.append("the lock was not compiled with Python 3.12, the Lambda runtime's")
    wanted = {canonical(r.name) for r in requirements if r.marker is None or r.marker.evaluate(LAMBDA)}
    for requirement in requirements:
        name = canonical(requirement.name)
        if name not in wanted:
            continue
        pin = pins.get(name)
        if pin is None:
            found.append(f"{requirement} is not in the lock")
        elif not requirement.specifier.contains(pin.version, prereleases=True):
            found.append(f"{requirement} is locked at {pin.version}, outside its range")
    for name, pin in sorted(pins.items()):
        if pin.hashes == 0:
            found.append(f"{name}=={pin.version} has no hash")
        if pin.via_input and name not in wanted:
            found.append(f"{name} is locked as a requirement of the input, which no longer names it")
    return found


def audit_service_problem(pins: dict[str, Pin]) -> str | None:
    """Why pip-audit's service (PyPI's per-release JSON) cannot answer here; None when it can."""
    name, pin = next(iter(sorted(pins.items())))
    url = f"https://pypi.org/pypi/{name}/{pin.version}/json"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            response.read(1)
    except urllib.error.HTTPError as exc:
        return f"{url} answered HTTP {exc.code}"
    except OSError as exc:
        return f"{url} is unreachable ({getattr(exc, 'reason', exc)})"
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audit", action="store_true", help="also run pip-audit on the lock")
    args = parser.parse_args()
    pins = read_lock()
    found = problems(read_input(), pins)
    for problem in found:
        print(f"lock: {problem}", file=sys.stderr)
    if found:
        print("lock: shared/requirements.txt is stale: run `make lock`", file=sys.stderr)
        return 1
    print(f"lock: shared/requirements.txt is current ({len(pins)} pins, every one hashed)")
    if not args.audit:
        return 0
    reason = audit_service_problem(pins)
    if reason:
        print(f"pip-audit: NOT RUN, its vulnerability service cannot answer from here: {reason}")
        return 0
    command = [sys.executable, "-m", "pip_audit", "--strict", "--disable-pip", "--require-hashes"]
    return subprocess.call([*command, "--progress-spinner", "off", "-r", str(LOCK)])  # noqa: S603 (our own argv)


if __name__ == "__main__":
    sys.exit(main())
