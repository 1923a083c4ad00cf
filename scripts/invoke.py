"""Run one function of the template on this machine, without Docker: `make invoke`.

    .venv/bin/python scripts/invoke.py --function CollectorFunction --event events/sqs_collect_one.json

Reads the built template (.aws-sam/build/template.yaml) or else template.yaml: the handler, code
and layer folders, the environment (CloudFormation references come from this shell, which always
wins). Needs DATABASE_URL (an existing database; DB_TLS=false without TLS) and, for the dispatcher,
COLLECT_QUEUE_URL (AWS_ENDPOINT_URL for moto); what is missing is the CLI's one line, no traceback.
The handler's JSON result is printed last on stdout and, with --output, written to a file.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Never

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support import cfn_yaml  # noqa: E402 - needs ROOT on sys.path first


class FakeLambdaContext:
    """The parts of the Lambda context the handlers and Powertools read."""

    def __init__(self, function_name: str, timeout_s: int, memory_mb: int) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.memory_limit_in_mb = memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = time.strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def find_template() -> tuple[Path, bool]:
    """The built template when there is one (True), else the source template (False)."""
    if cfn_yaml.BUILT_TEMPLATE.is_file():
        return cfn_yaml.BUILT_TEMPLATE, True
    return cfn_yaml.TEMPLATE, False


def layer_dirs(template: dict[str, Any], layers: list[Any], base: Path, built: bool) -> list[Path]:
    """The folders to import each layer from: `python/` of a built layer, the source folder otherwise."""
    dirs = []
    for layer in layers:
        if not (isinstance(layer, dict) and "Ref" in layer):
            continue  # a layer ARN from outside the template: nothing local to load
        content = template["Resources"][layer["Ref"]]["Properties"]["ContentUri"]
        folder = base / content
        dirs.append(folder / "python" if built else folder)
    return dirs


def function_environment(properties: dict[str, Any], environ: dict[str, str]) -> dict[str, str]:
    """The template's variables with literal values, under whatever this shell sets itself."""
    env: dict[str, str] = {}
    variables = properties.get("Environment", {}).get("Variables", {})
    for name, value in variables.items():
        if name in environ:
            continue
        if isinstance(value, bool):
            env[name] = str(value).lower()
        elif isinstance(value, str | int | float):
            env[name] = str(value)
    return env


def prepare(function: str) -> tuple[Any, FakeLambdaContext, set[str]]:
    """Import ``function``'s handler with its code and layers on sys.path; the names of the
    variables the template gives it."""
    path, built = find_template()
    template = cfn_yaml.load(path)
    if function not in cfn_yaml.resources(template, "AWS::Serverless::Function"):
        names = ", ".join(sorted(cfn_yaml.resources(template, "AWS::Serverless::Function")))
        raise bad_input(f"{function} is not a function of {path} (functions: {names})")
    properties = cfn_yaml.function_properties(template, function)
    base = path.parent
    code_dir = base / properties["CodeUri"]
    paths = [code_dir, *layer_dirs(template, properties.get("Layers", []), base, built)]
    for folder in reversed(paths):
        sys.path.insert(0, str(folder))

    env = function_environment(properties, dict(os.environ))
    env["AWS_LAMBDA_FUNCTION_NAME"] = function
    env["AWS_REGION"] = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
    env["AWS_DEFAULT_REGION"] = os.environ.get("AWS_REGION", "us-east-1")
    # There is no X-Ray daemon here; set POWERTOOLS_TRACE_DISABLED=false to trace anyway.
    env["POWERTOOLS_TRACE_DISABLED"] = "true"
    env = {k: v for k, v in env.items() if k not in os.environ}  # this shell wins
    os.environ.update(env)

    module_name, _, attribute = properties["Handler"].rpartition(".")
    handler = getattr(importlib.import_module(module_name), attribute)
    context = FakeLambdaContext(
        function, int(properties.get("Timeout", 3)), int(properties.get("MemorySize", 128))
    )
    source = "built" if built else "source (run `make validate` or `sam build` to use the built one)"
    print(f"invoke: {function} from the {source} template {path.relative_to(ROOT)}", file=sys.stderr)
    return handler, context, set(properties.get("Environment", {}).get("Variables", {}))


def bad_input(message: str) -> SystemExit:
    """One line on stderr and exit 2 (the input is wrong), never a traceback."""
    print(f"invoke: {message}", file=sys.stderr)
    return SystemExit(2)


def check_services(variables: set[str]) -> None:
    """Connect to the database the environment names, and need COLLECT_QUEUE_URL when the
    template gives the function one; raises what the function would meet (a collector only
    logs it per record and returns the records as failed)."""
    from charlee_collector.app.runtime import Runtime
    from charlee_collector.core.settings import Settings
    from charlee_collector.store.engine import get_engine

    settings = Settings.from_env()
    with get_engine(settings).connect():
        pass
    if "COLLECT_QUEUE_URL" in variables:  # the dispatcher sends to it
        _ = Runtime(settings).queue_url


def explained(exc: Exception) -> BaseException:
    """The CLI's one line for an error an operator can fix (exit 2 for a setting, 1 otherwise);
    any other exception unchanged, to show its traceback (a bug)."""
    from charlee_collector.core.settings import Settings
    from charlee_collector.store.engine import explain_error, resolve_url

    explanation = explain_error(exc, lambda: resolve_url(Settings.from_env()))
    if explanation is None:
        return exc
    message, usage = explanation
    print(f"invoke: {message}", file=sys.stderr)
    return SystemExit(2 if usage else 1)


def read_event(path: Path) -> Any:
    """The event file's JSON; a missing or malformed file is one line, exit 2."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        # env.*.json are `sam local invoke --env-vars` files, not events.
        names = sorted(p.name for p in (ROOT / "events").glob("*.json") if not p.name.startswith("env."))
        raise bad_input(
            f"cannot read event {path}: {exc.strerror} (events/ holds {', '.join(names)})"
        ) from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise bad_input(f"event {path} is not valid JSON: {exc}") from None


class OneLineParser(argparse.ArgumentParser):
    """argparse's errors as one line (it prints the usage, wrapped, then the error)."""

    def error(self, message: str) -> Never:
        raise bad_input(f"{message} (usage: make invoke FUNCTION=CollectorFunction EVENT=events/x.json)")


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--function", required=True, help="logical id, e.g. CollectorFunction")
    parser.add_argument("--event", required=True, help="a JSON event file, e.g. events/scheduled.json")
    parser.add_argument("--output", type=Path, help="also write the result to this file")
    args = parser.parse_args(argv)
    if not args.function or not args.event:
        parser.error("give both FUNCTION and EVENT")

    event = read_event(Path(args.event))
    handler, context, variables = prepare(args.function)
    try:
        check_services(variables)
        result = handler(event, context)
    except Exception as exc:
        raise explained(exc) from None
    text = json.dumps(result, indent=2, default=str)
    print(text)
    if args.output:
        args.output.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
