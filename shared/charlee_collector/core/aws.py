"""The AWS region, the secrets reader given it, and an AWS failure's cause in words.

Lambda sets ``AWS_REGION``; botocore reads only ``AWS_DEFAULT_REGION``, and a shell or CI job
often sets just one of them. Every client here gets ``aws_region()`` (either variable)
explicitly. ``aws_cause`` says why a call failed ("no AWS credentials were found") where the
exception's class name (``NoRegionError``, Powertools' ``GetParameterError``) said nothing.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

NO_REGION = "no AWS region is set (set AWS_REGION or AWS_DEFAULT_REGION)"
NO_CREDENTIALS = (
    "no AWS credentials were found (environment variables, AWS_PROFILE, ~/.aws or an instance role)"
)


def aws_region(env: Mapping[str, str] | None = None) -> str | None:
    """``AWS_REGION``, else ``AWS_DEFAULT_REGION``; ``None`` when neither is set."""
    env = os.environ if env is None else env
    return env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None


# One Secrets Manager provider (and its cache of values) per region, built on first use.
_providers: dict[str | None, Any] = {}
_providers_lock = threading.Lock()


def read_secret_json(name: str, max_age: int) -> Any:
    """The JSON value of secret ``name`` through a Powertools ``SecretsProvider`` (cached
    ``max_age`` s), its Secrets Manager client built for ``aws_region()``."""
    region = aws_region()
    with _providers_lock:
        provider = _providers.get(region)
        if provider is None:
            import boto3
            from aws_lambda_powertools.utilities import parameters

            client = boto3.session.Session(region_name=region).client("secretsmanager")
            provider = _providers[region] = parameters.SecretsProvider(boto3_client=client)
    return provider.get(name, transform="json", max_age=max_age)


def forget_secrets() -> None:
    """Forget every secret value read and the clients that read them (tests; a fresh start)."""
    from aws_lambda_powertools.utilities import parameters

    with _providers_lock:
        _providers.clear()
    parameters.clear_caches()


def aws_error_code(error: BaseException) -> str | None:
    """The AWS error code (``AccessDeniedException``) of ``error`` or what it wraps."""
    for candidate in _chain(error):
        response = getattr(candidate, "response", None)
        if isinstance(response, dict):
            code = response.get("Error", {}).get("Code")
            return str(code) if code else None
    return None


def aws_cause(error: BaseException) -> str:
    """Why an AWS call failed, in words: no region, no credentials, the AWS error code, or
    botocore's own message; the class name only when nothing better is known."""
    from botocore.exceptions import BotoCoreError, NoCredentialsError, NoRegionError

    chain = _chain(error)
    if any(isinstance(cause, NoRegionError) for cause in chain):
        return NO_REGION
    if any(isinstance(cause, NoCredentialsError) for cause in chain):
        return NO_CREDENTIALS
    code = aws_error_code(error)
    if code:
        return code
    botocore_error = next((cause for cause in chain if isinstance(cause, BotoCoreError)), None)
    return str(botocore_error) if botocore_error is not None else type(error).__name__


def _chain(error: BaseException) -> list[BaseException]:
    found: list[BaseException] = []
    cause: BaseException | None = error
    while cause is not None and cause not in found and len(found) < 10:
        found.append(cause)
        cause = cause.__cause__ or cause.__context__
    return found
