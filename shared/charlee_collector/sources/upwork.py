"""Upwork marketplace job postings through its GraphQL API (``POST https://api.upwork.com/graphql``).

WRITTEN FROM THE SCHEMA ONLY: no real response has been published. The query is
``marketplaceJobPostingsSearch(marketPlaceJobFilter, searchType, sortAttributes)`` answering
``{"data": {"marketplaceJobPostingsSearch": {"edges": [{"node": {...}}], "pageInfo": {"endCursor",
"hasNextPage"}}}}`` (field names: docs/sources.md, "Upwork"). Enum values are unconfirmed, so every
one sent (``search_type``, ``sort``, ``job_type``, ``experience_level``) is config, checked only for
the shape of a GraphQL enum name. ``errors`` with HTTP 200 and no result is a permanent failure
naming the first messages; ``pages`` pages of ``page_size`` follow ``pageInfo``'s cursor.

The platform's credentials secret holds the OAuth2 tokens (``app/oauth_tokens.py`` keeps its access
token fresh before the collection and after a 401); this module only sends ``access_token``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from contextlib import nullcontext
from decimal import Decimal
from typing import Annotated, Any

from pydantic import Field, StringConstraints, model_validator

from charlee_collector.core.errors import PermanentSourceError
from charlee_collector.core.opportunity import Opportunity
from charlee_collector.fetching.client import Fetcher
from charlee_collector.normalize.budgets import to_decimal
from charlee_collector.normalize.opportunities import build_opportunity
from charlee_collector.sources.base import (
    JSON_ACCEPT,
    BaseSourceConfig,
    FetchResult,
    Source,
    Turn,
    WebUrl,
    expect,
    load_json,
    read_any,
    records,
    strings,
    text,
)

DEFAULT_URL = "https://api.upwork.com/graphql"
DEFAULT_SITE_URL = "https://www.upwork.com"
# Where the operator authorises the app and the token endpoint (Upwork's python-upwork-oauth2).
AUTHORIZE_URL = "https://www.upwork.com/ab/account-security/oauth2/authorize"
TOKEN_URL = "https://www.upwork.com/api/v3/oauth2/token"  # noqa: S105 (an address, not a secret)
ERRORS_SHOWN = 3

EnumName = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]*$", max_length=60)]
FilterKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]+_(eq|any|all)$", max_length=60)]

QUERY = """
query CharleeJobSearch($filter: MarketplaceJobPostingsSearchFilter,
                       $searchType: MarketplaceJobPostingSearchType,
                       $sort: [MarketplaceJobPostingSearchSortAttribute]) {
  marketplaceJobPostingsSearch(marketPlaceJobFilter: $filter, searchType: $searchType,
                               sortAttributes: $sort) {
    totalCount
    edges {
      node {
        id title description ciphertext createdDateTime publishedDateTime
        category subcategory engagement durationLabel experienceLevel hourlyBudgetType
        amount { rawValue currency }
        hourlyBudgetMin { rawValue currency }
        hourlyBudgetMax { rawValue currency }
        skills { name prettyName }
        client { location { country } }
      }
    }
    pageInfo { endCursor hasNextPage }
  }
}
""".strip()


class UpworkConfig(BaseSourceConfig):
    """The search; ``filter`` adds any other ``MarketplaceJobPostingsSearchFilter`` field as given."""

    url: WebUrl = DEFAULT_URL
    site_url: WebUrl = DEFAULT_SITE_URL
    query: str | None = Field(default=None, min_length=1, max_length=500)
    category_ids: list[str] = Field(default_factory=list, max_length=50)
    job_type: EnumName | None = None  # ContractType: HOURLY or FIXED, as far as client code shows
    experience_level: EnumName | None = None  # ExperienceLevel: ENTRY_LEVEL, INTERMEDIATE, EXPERT?
    search_type: EnumName | None = "USER_JOBS_SEARCH"
    sort: list[EnumName] = Field(default_factory=lambda: ["RECENCY"], max_length=5)
    filter: dict[FilterKey, Any] = Field(default_factory=dict)
    page_size: int = Field(default=50, ge=1, le=100)
    pages: int = Field(default=1, ge=1, le=10)
    tenant_id: str | None = Field(default=None, max_length=100)  # X-Upwork-API-TenantId

    @model_validator(mode="after")
    def _filter_keys_not_set_twice(self) -> UpworkConfig:
        ours = set(_own_filter(self)) | {"pagination_eq"}
        twice = sorted(ours & set(self.filter))
        if twice:
            raise ValueError(f"filter key(s) {', '.join(twice)} are set by the config's own fields")
        return self


def _own_filter(config: UpworkConfig) -> dict[str, Any]:
    values = {
        "searchExpression_eq": config.query,
        "categoryIds_any": config.category_ids or None,
        "jobType_eq": config.job_type,
        "experienceLevel_eq": config.experience_level,
    }
    return {key: value for key, value in values.items() if value is not None}


def request_body(config: UpworkConfig, after: str | None = None) -> bytes:
    """The GraphQL request for one page (everything in variables: nothing spliced into the query)."""
    pagination: dict[str, Any] = {"first": config.page_size}
    if after:
        pagination["after"] = after
    variables: dict[str, Any] = {
        "filter": {**config.filter, **_own_filter(config), "pagination_eq": pagination},
        "sort": [{"field": field} for field in config.sort],
    }
    if config.search_type:
        variables["searchType"] = config.search_type
    return json.dumps({"query": QUERY, "variables": variables}).encode()


def _search(payload: Any, source: str) -> Mapping[str, Any]:
    """``data.marketplaceJobPostingsSearch``; ``errors`` without it is a permanent failure."""
    payload = expect(payload, dict, source, 'a GraphQL answer with "data" or "errors"')
    data = payload.get("data")
    found = data.get("marketplaceJobPostingsSearch") if isinstance(data, Mapping) else None
    if isinstance(found, Mapping):
        return found  # errors beside a result (a field it could not resolve) leave it usable
    messages = [text(error.get("message")) or "no message" for error in records(payload.get("errors"))]
    if messages:
        shown = "; ".join(message[:200] for message in messages[:ERRORS_SHOWN])
        more = f" (and {len(messages) - ERRORS_SHOWN} more)" if len(messages) > ERRORS_SHOWN else ""
        raise PermanentSourceError(
            f"{source} answered with GraphQL errors: {shown}{more}; check the platform's config "
            "(its enum values are unconfirmed: `charlee-collector sources upwork`)"
        )
    raise PermanentSourceError(
        f"{source} payload could not be parsed: expected data.marketplaceJobPostingsSearch, "
        f"found {sorted(payload)[:12]}"
    )


def next_cursor(body: bytes, source: str = "upwork") -> str | None:
    """The cursor of the page after this one; ``None`` on the last page."""
    page_info = _search(load_json(body, source), source).get("pageInfo")
    if not isinstance(page_info, Mapping) or page_info.get("hasNextPage") is not True:
        return None
    return text(page_info.get("endCursor"))


def _money(value: Any) -> tuple[Decimal | None, str | None]:
    if not isinstance(value, Mapping):
        return None, None
    amount = to_decimal(value.get("rawValue"))
    return (amount, text(value.get("currency"))) if amount else (None, None)


def _budget(node: Mapping[str, Any]) -> tuple[Decimal | None, str | None, str | None]:
    """Amount, currency and contract type: the hourly range's top (else its bottom), else the
    fixed price; Upwork reports 0 for what a job does not have."""
    high, high_currency = _money(node.get("hourlyBudgetMax"))
    low, low_currency = _money(node.get("hourlyBudgetMin"))
    if high or low:
        return high or low, high_currency or low_currency, "hourly"
    fixed, currency = _money(node.get("amount"))
    return (fixed, currency, "fixed_price") if fixed else (None, None, None)


def _object(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


class UpworkSource(Source):
    key = "upwork"
    reads = 'a GraphQL answer with "data.marketplaceJobPostingsSearch.edges[].node" having "id" and "title"'
    min_interval_minutes = 60
    interval_terms = (
        "Upwork throttles each API key (429) without a published figure for GraphQL, and its terms "
        "allow caching its data for 24 hours at most (descriptions are purged after that); hourly."
    )
    example = {"query": "python AND scraping", "job_type": "HOURLY", "sort": ["RECENCY"], "min_budget": 30}
    Config = UpworkConfig
    # The credentials secret holds OAuth2 tokens that the collector refreshes (app/oauth_tokens.py).
    oauth_tokens = True
    # Its content is kept 24 hours at most: core/terms.py, purged by app/retention.py.

    def request_headers(self, config: UpworkConfig, secrets: Mapping[str, str]) -> dict[str, str]:
        token = secrets.get("access_token")
        if not token:
            raise PermanentSourceError(
                "upwork needs an access_token in the platform's credentials secret: "
                "run `charlee-collector upwork authorize`"
            )
        headers = {"Accept": JSON_ACCEPT, "Content-Type": JSON_ACCEPT, "Authorization": f"Bearer {token}"}
        if config.tenant_id:
            headers["X-Upwork-API-TenantId"] = config.tenant_id
        return headers

    def fetch(
        self,
        config: UpworkConfig,
        fetcher: Fetcher,
        *,
        etag: str | None,
        last_modified: str | None,
        secrets: Mapping[str, str],
        turn: Turn = nullcontext,
    ) -> FetchResult:
        """Up to ``pages`` POSTs, each page's cursor from the one before (no conditional requests:
        GraphQL answers carry no validators)."""
        headers = self.request_headers(config, secrets)
        items: list[Opportunity] = []
        after: str | None = None
        status = None
        for _page in range(config.pages):
            response = fetcher.post(str(config.url), content=request_body(config, after), headers=headers)
            status = response.status
            items += self.parse_payload(response.body, config, turn, fetcher.deadline)
            after = next_cursor(response.body, self.key)
            if after is None:
                break
        return FetchResult("ok", items, http_status=status)

    def parse(self, body: bytes, config: UpworkConfig) -> list[Opportunity]:
        search = _search(load_json(body, self.key), self.key)
        edges = records(search.get("edges"))
        nodes = [edge["node"] for edge in edges if isinstance(edge.get("node"), Mapping)]
        site = config.site_url.rstrip("/")
        items: list[Opportunity] = []
        for node in nodes:
            ciphertext = text(node.get("ciphertext"))
            amount, currency, contract = _budget(node)
            location = _object(_object(node.get("client")).get("location"))
            skills = records(node.get("skills"))
            opportunity = build_opportunity(
                external_id=text(node.get("id")),
                title=text(node.get("title")),
                description=text(node.get("description")),
                url=f"{site}/jobs/~{ciphertext.lstrip('~')}" if ciphertext else None,
                client_country=text(location.get("country")),
                required_skills=strings(
                    [text(skill.get("prettyName")) or text(skill.get("name")) for skill in skills]
                ),
                category=text(node.get("category")) or text(node.get("subcategory")),
                client_budget=amount,
                client_currency=currency,
                contract_type=contract,
                posted_at=node.get("publishedDateTime") or node.get("createdDateTime"),
                raw=node,
            )
            if opportunity is not None:
                items.append(opportunity)
        return read_any(self.key, self.reads, nodes, items)
