"""One company's job board on an applicant-tracking vendor: the ``board`` config and its URL.

Every such source (``greenhouse``, ``lever``, ``ashby``, ``smartrecruiters``, ``workable``,
``recruitee``) is configured the same way: ``board`` is the company's name on the vendor (what
its API calls the board token, site, company, account or subdomain; it is the part of the
public careers URL after the vendor's host), or ``url`` is the full address to read, which
overrides ``board`` as ``url`` does for every source. One of the two is required, and a board
name is a single path segment or host label (letters, digits, ``-`` and ``_``), so it can never
move a request to another path or host.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import ConfigDict, Field, model_validator

from charlee_collector.normalize.filters import BaseSourceConfig
from charlee_collector.sources.base import Source, WebUrl

BOARD_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$"


class BoardConfig(BaseSourceConfig):
    """``board`` (the company's name on the vendor) or ``url`` (overrides it)."""

    # ``charlee-collector sources NAME`` shows the pair as "one of board, url".
    model_config = ConfigDict(json_schema_extra={"x-one-of-required": ["board", "url"]})

    board: str | None = Field(default=None, pattern=BOARD_PATTERN)
    url: WebUrl | None = None

    @model_validator(mode="after")
    def _board_or_url(self) -> BoardConfig:
        if self.board is None and self.url is None:
            raise ValueError("give 'board' (the company's name on the job board) or a full 'url'")
        return self


class BoardSource(Source):
    """A source that reads one company's board: ``board_url`` with ``{board}`` filled in."""

    Config: ClassVar[type[BoardConfig]] = BoardConfig
    # The API address of one board, with "{board}" where the company's name goes.
    board_url: ClassVar[str]

    def request_url(self, config: Any) -> str:
        return str(config.url) if config.url else self.board_url.format(board=config.board)
