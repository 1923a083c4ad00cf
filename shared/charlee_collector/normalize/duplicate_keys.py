"""The keys that tell one job posted twice: canonical URL, normalised title and company.

``title_key`` keeps the words of a title, casefolded and without accents or punctuation, so
"Senior Python Engineer (Remote)!" and "senior python engineer - remote" are one key.
``company_key`` also drops legal forms and spaces ("ACME, Inc." and "Acme" are "acme"). The
layers that use them are in ``store/duplicates.py``.
"""

from __future__ import annotations

import re
import unicodedata
from typing import NamedTuple

from charlee_collector.core.opportunity import Opportunity
from charlee_collector.normalize.canonical_urls import canonical_url

KEY_CHARS = 200  # the columns' width: enough to tell titles apart
_WORD = re.compile(r"\w+")
# Words a company's name is written with or without: a different spelling, not another company.
LEGAL_FORMS = frozenset(
    {
        "inc", "incorporated", "llc", "ltd", "limited", "corp", "corporation", "co", "company",
        "gmbh", "ag", "sa", "sas", "sarl", "srl", "spa", "bv", "nv", "plc", "pty", "oy", "ab",
        "as", "kg", "lda", "the", "group", "holdings",
    }
)  # fmt: skip


class DuplicateKeys(NamedTuple):
    """What ``store/duplicates.py`` compares: the three keys of one opportunity (``None``: absent)."""

    canonical_url: str | None
    title_key: str | None
    company_key: str | None


def _words(text: str) -> list[str]:
    folded = text.casefold()
    if folded.isascii():  # most titles: nothing to take accents from
        return _WORD.findall(folded)
    # NFKD then dropping the combining marks: "Café" and "Cafe" are one word.
    decomposed = unicodedata.normalize("NFKD", folded)
    return _WORD.findall("".join(c for c in decomposed if not unicodedata.combining(c)))


def title_key(title: str | None) -> str | None:
    """A title's words, casefolded, accents and punctuation gone; ``None`` when it has none."""
    words = _words(title or "")
    return " ".join(words)[:KEY_CHARS] or None


def company_key(name: str | None) -> str | None:
    """A company's name as one token: words casefolded, legal forms dropped, joined without spaces."""
    words = [word for word in _words(name or "") if word not in LEGAL_FORMS]
    return "".join(words)[:KEY_CHARS] or None


def duplicate_keys(item: Opportunity) -> DuplicateKeys:
    """The keys of ``item``."""
    return DuplicateKeys(canonical_url(item.url), title_key(item.title), company_key(item.client_name))
