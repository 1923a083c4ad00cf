"""A user's alert rule: which stored opportunities alert them, how soon, and on which channel.

Validated like a profile (unknown keys refused, one line naming the field). What alerts:
``min_score`` (0-100; an unscored opportunity, its owner without a profile, never passes one),
``keywords`` (ANY, as a whole word: the filters' rule, ``normalize/filters.py``), ``sources``
(``freelance_platforms.source`` keys), ``min_budget`` (the filters' AMOUNT/PERIOD minimums, like
with like) and ``contract_types``. An empty field lets everything through. How: ``mode``
``instant`` (what a minute brings is one message) or ``digest`` (``every`` daily or weekly, at
``hour`` of ``timezone``, on ``weekday`` when weekly). Where: ``channel`` (one of ``CHANNELS``) and
``secret``, the name of the Secrets Manager secret holding its webhook URL, token or address:
never the credential itself (docs/alerts.md); ``more_url``, where a message cut short links to
for the rest (the reader's application).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal, get_args
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from charlee_collector.core.errors import InvalidAlertRule, validation_problems
from charlee_collector.core.opportunity import ContractType, Opportunity
from charlee_collector.normalize.filters import Keyword, MinBudget, first_whole_word, searchable_text
from charlee_collector.normalize.profiles import known_timezone

Channel = Literal["slack", "discord", "telegram", "ntfy", "webhook", "email"]
CHANNELS: tuple[str, ...] = get_args(Channel)
Mode = Literal["instant", "digest"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[str, ...] = get_args(Weekday)


SourceKey = Annotated[str, Field(min_length=1, max_length=50)]


def _web_address(url: str | None) -> str | None:
    if url is not None and not url.lower().startswith(("https://", "http://")):
        raise ValueError("is an http(s) URL: where the reader lists the rest of the jobs")
    return url


SecretName = Annotated[str, Field(min_length=1, max_length=512)]


class AlertRule(BaseModel):
    """One rule (module docstring); the filters may all be empty, the channel may not."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_score: int | None = Field(default=None, ge=0, le=100)
    keywords: list[Keyword] = Field(default_factory=list, max_length=100)
    sources: list[SourceKey] = Field(default_factory=list, max_length=50)
    min_budget: MinBudget | None = None
    contract_types: list[ContractType] = Field(default_factory=list, max_length=2)
    mode: Mode = "instant"
    every: Literal["daily", "weekly"] | None = None
    hour: int | None = Field(default=None, ge=0, le=23)
    weekday: Weekday | None = None
    timezone: Annotated[str, AfterValidator(known_timezone)] = "UTC"
    channel: Channel
    secret: SecretName
    more_url: Annotated[str | None, AfterValidator(_web_address)] = None

    @model_validator(mode="after")
    def _schedule_fits_mode(self) -> AlertRule:
        # A digest needs its when; an instant rule given one is a mistake worth saying, not ignoring.
        if self.mode == "digest":
            if self.every is None or self.hour is None:
                raise ValueError("a digest needs 'every' (daily or weekly) and 'hour' (0-23)")
            if (self.every == "weekly") != (self.weekday is not None):
                raise ValueError("'weekday' is given for a weekly digest, and only for one")
        elif self.every is not None or self.hour is not None or self.weekday is not None:
            raise ValueError("'every', 'hour' and 'weekday' are for mode digest only")
        return self


def parse_alert_rule(value: Mapping[str, Any], *, known_sources: Collection[str] | None = None) -> AlertRule:
    """``value`` (a stored or typed rule) validated; raises ``InvalidAlertRule`` naming the field.

    ``known_sources``: the source keys a new rule may name (``sources.SOURCE_KEYS``, which this
    layer may not import); a stored rule is read without it, so a source retired since still reads.
    """
    try:
        rule = AlertRule.model_validate(dict(value))
    except ValidationError as exc:
        message = f"invalid alert rule: {validation_problems(exc, whole='(rule)')}"
        if any(detail["type"] == "extra_forbidden" for detail in exc.errors()):
            message += f"; its keys are {', '.join(AlertRule.model_fields)}"
        raise InvalidAlertRule(message) from None
    if known_sources is not None:
        for position, source in enumerate(rule.sources):
            if source not in known_sources:
                raise InvalidAlertRule(
                    f"invalid alert rule: field 'sources.{position}': unknown source {source!r}: "
                    f"one of {', '.join(known_sources)}"
                )
    return rule


def alert_rule_document(rule: AlertRule) -> dict[str, Any]:
    """The rule as it is stored and shown (JSON types; ``min_budget`` in the AMOUNT/PERIOD form)."""
    return rule.model_dump(mode="json", exclude_none=True)


DIGEST_WINDOWS = {"daily": timedelta(days=1), "weekly": timedelta(days=7)}


def digest_window(rule: AlertRule) -> timedelta:
    """How far back a digest of ``rule`` looks: a day or a week."""
    return DIGEST_WINDOWS[rule.every or "daily"]


def digest_due(rule: AlertRule, last_sent: datetime | None, now: datetime) -> bool:
    """Whether ``rule``'s digest is to go out at ``now``: its local hour (and weekday) has come and
    none went out since that hour began."""
    if rule.mode != "digest" or rule.hour is None:
        return False
    local = now.astimezone(ZoneInfo(rule.timezone))
    if local.hour != rule.hour or (rule.every == "weekly" and WEEKDAYS[local.weekday()] != rule.weekday):
        return False
    hour_began = local.replace(minute=0, second=0, microsecond=0)
    return last_sent is None or last_sent < hour_began


def rule_matches(rule: AlertRule, item: Opportunity, *, source: str, score: int | None) -> bool:
    """Whether ``item`` (stored from a platform of ``source``, scored ``score``) alerts under ``rule``."""
    if rule.min_score is not None and (score is None or score < rule.min_score):
        return False
    if rule.sources and source not in rule.sources:
        return False
    if rule.contract_types and item.contract_type not in rule.contract_types:
        return False
    if rule.min_budget is not None and not rule.min_budget.allows(item.client_budget, item.budget_period):
        return False
    return not rule.keywords or first_whole_word(searchable_text(item), rule.keywords) is not None
