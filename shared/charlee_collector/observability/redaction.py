"""No secret in a log line: registered values in every form, URL userinfo, credential parameters, tokens.

``register_secret_values`` adds values (the database password is added on its own);
``redact`` masks a text; ``mask_values`` masks given values only; ``mask_secrets`` both (what every
stored text of a collection passes); ``scrub`` walks a structure.
"""

from __future__ import annotations

import json
import os
import re
import threading
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

REDACTED = "***"


# Shorter values (a flag, "1", "true") would blank out ordinary words; real secrets are longer.
MIN_SECRET_LENGTH = 4


_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)([^/?#@\s\"'<>]+)@")


_SECRET_QUERY = re.compile(
    r"(?i)([?&;](?:api[_-]?key|access[_-]?token|auth(?:orization)?|client[_-]?secret|key|"
    r"pass(?:word|wd)?|pwd|secret|sig(?:nature)?|token|x-amz-(?:credential|security-token|signature))=)"
    r"[^&#\s\"'<>]+"
)


_AUTH_TOKEN = re.compile(r"(?i)\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=\-]{8,}")


_secrets_lock = threading.Lock()


_secret_values: set[str] = set()


_secret_pattern: re.Pattern[str] | None = None


_database_url_seen: str | None = None


# An IDNA label (a host name as httpx sends it): a secret inside one is no longer its own text.
_PUNYCODE_LABEL = re.compile(r"(?i)\bxn--[a-z0-9-]+")


def _char_forms(char: str) -> list[str]:
    # One character as a message may show it: as is, JSON-, repr- or bytes-repr-escaped, and
    # percent-encoded once or twice (any hex case: the pattern ignores case), "+" for a space.
    encoded = "".join(f"%{byte:02X}" for byte in char.encode("utf-8", "surrogatepass"))
    forms = {
        char,
        json.dumps(char)[1:-1],
        repr(char)[1:-1],
        repr(char.encode("utf-8", "surrogatepass"))[2:-1],
        encoded,
        encoded.replace("%", "%25"),
    }
    if char == " ":
        forms.add("+")
    return sorted(forms, key=len, reverse=True)


def _value_pattern(value: str) -> str:
    return "".join("(?:" + "|".join(re.escape(form) for form in _char_forms(char)) + ")" for char in value)


def _all_variants(values: Iterable[object]) -> set[str]:
    # Each value, without the trailing newline a pasted secret often has, and as Unicode
    # normalisation (IDNA, NFKC) and case folding may have rewritten it.
    forms: set[str] = set()
    for value in values:
        if isinstance(value, str) and len(value.strip()) >= MIN_SECRET_LENGTH:
            for base in {value, value.strip()}:
                forms |= {base, base.casefold(), unicodedata.normalize("NFKC", base).casefold()}
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


def _pattern(values: Iterable[str]) -> re.Pattern[str]:
    ordered = sorted(values, key=len, reverse=True)  # longest first: no partial hits
    # Case-insensitive: a host name reaches a message lower-cased, percent-encoding in any case.
    return re.compile("|".join(_value_pattern(value) for value in ordered), re.IGNORECASE)


def _decoded_label(label: str) -> str:
    try:
        return label[4:].encode("ascii").decode("punycode")
    except (UnicodeError, ValueError):
        return label


def _mask(text: str, pattern: re.Pattern[str]) -> str:
    text = pattern.sub(REDACTED, text)
    # A secret in a host name with non-ASCII letters leaves as punycode: look inside each label.
    return _PUNYCODE_LABEL.sub(lambda m: REDACTED if pattern.search(_decoded_label(m[0])) else m[0], text)


def mask_values(text: str, values: Iterable[object]) -> str:
    """``text`` with each of ``values`` masked in every form it may take: any letter case,
    JSON/repr-escaped, percent-encoded (wholly or in part, any hex case), inside an IDNA host
    label, NFKC-normalised."""
    forms = _all_variants(values)
    return _mask(text, _pattern(forms)) if forms else text


def register_secret_values(values: Iterable[object]) -> None:
    """Never log these values (strings of at least MIN_SECRET_LENGTH characters; others ignored)."""
    global _secret_pattern
    new = _all_variants(values)
    with _secrets_lock:
        if new - _secret_values:
            _secret_values.update(new)
            _secret_pattern = _pattern(_secret_values)


def _register_database_url_password() -> None:
    global _database_url_seen
    raw = os.environ.get("DATABASE_URL") or ""
    if raw == _database_url_seen:
        return
    _database_url_seen = raw
    try:
        password = urlsplit(raw).password
    except ValueError:
        password = None
    if password:
        register_secret_values([password, unquote(password)])


def redact(text: str) -> str:
    """``text`` with known secret values, URL userinfo, credential query values and tokens masked."""
    _register_database_url_password()
    pattern = _secret_pattern
    if pattern is not None:
        text = _mask(text, pattern)
    text = _URL_USERINFO.sub(_mask_userinfo, text)
    text = _SECRET_QUERY.sub(lambda m: m[1] + REDACTED, text)
    return _AUTH_TOKEN.sub(lambda m: f"{m[1]} {REDACTED}", text)


def mask_secrets(text: str, values: Iterable[object] = ()) -> str:
    """``text`` as a collection may store it: ``values`` (the platform's secrets) masked in every
    form, then what ``redact`` masks. The one masking of the run's error, ``last_error`` and every
    text the politeness layer keeps (the shared response's URLs and failure, host names)."""
    return redact(mask_values(text, values))


def _mask_userinfo(match: re.Match[str]) -> str:
    user, colon, _password = match[2].partition(":")
    # A lone userinfo is often a token (https://TOKEN@host); a user before a colon is kept.
    return f"{match[1]}{user}:{REDACTED}@" if colon else f"{match[1]}{REDACTED}@"


def scrub(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {key: scrub(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [scrub(item) for item in value]
    return redact(str(value))  # what the JSON serializer would write (json_default=str), masked
