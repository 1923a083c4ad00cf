"""Pure functions from what a platform served to one ``Opportunity`` shape; no I/O.

``text`` (clean, cut, one line, mojibake), ``html`` (HTML to text, in batches), ``dates``,
``budgets`` (amounts, currencies, periods), ``json_values`` (raw payloads made storable),
``opportunities`` (build one, drop duplicates), ``filters`` (every source's keyword and budget filters).

May import: observability, core (column widths: ``core.limits``).
"""
