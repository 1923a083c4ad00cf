"""Platform credentials from Secrets Manager, through Powertools Parameters (cached).

Secret values are returned to the adapter and nowhere else: never logged, never put in an
error message. Which secrets a platform may name, and where they may be sent: ``core/credentials``.
"""

from __future__ import annotations

from typing import Any

from charlee_collector.core.errors import PermanentSourceError, TransientSourceError

SECRET_MAX_AGE_SECONDS = 300
_PERMANENT_CODES = {
    "ResourceNotFoundException",
    "AccessDeniedException",
    "InvalidRequestException",
    "DecryptionFailure",
}


def read_platform_secret(name: str) -> dict[str, str]:
    """The JSON object stored under ``name``; a missing or unreadable secret is a config problem."""
    from aws_lambda_powertools.utilities import parameters

    from charlee_collector.core.aws import aws_cause, aws_error_code, read_secret_json
    from charlee_collector.observability.redaction import register_secret_values

    try:
        value: Any = read_secret_json(name, SECRET_MAX_AGE_SECONDS)
    except parameters.exceptions.TransformParameterError:
        raise PermanentSourceError(f"credentials secret {name} is not a JSON object") from None
    except Exception as exc:
        code = aws_error_code(exc)
        if code in _PERMANENT_CODES:
            raise PermanentSourceError(
                f"credentials secret {name} cannot be read ({code}); check its name and the policy"
            ) from None
        raise TransientSourceError(f"credentials secret {name} is unavailable: {aws_cause(exc)}") from None
    if not isinstance(value, dict):
        raise PermanentSourceError(f"credentials secret {name} is not a JSON object")
    secrets = {str(k): str(v) for k, v in value.items()}
    register_secret_values(secrets.values())  # log lines mask them from now on
    return secrets
