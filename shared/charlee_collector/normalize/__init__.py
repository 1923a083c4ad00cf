"""Pure functions from what a platform served to one ``Opportunity`` shape; no I/O.

``text`` (clean, cut, one line, mojibake), ``html`` (HTML to text, in batches), ``dates``,
``budgets`` (amounts, currencies, periods), ``json_values`` (raw payloads made storable),
``opportunities`` (build one, drop duplicates), ``filters`` (every source's keyword and budget filters),
``profiles`` (a user's scoring profile), ``alert_rules`` (which jobs alert a user, when, where), ``chat_text``
(each chat's escaping), ``scoring`` (an opportunity's score and its parts),
``canonical_urls`` and ``duplicate_keys`` (what tells one job posted twice).

May import: observability, core (column widths: ``core.limits``).
"""
