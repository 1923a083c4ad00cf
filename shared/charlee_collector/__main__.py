"""``python -m charlee_collector``: the operator command (same as ``charlee-collector``)."""

from __future__ import annotations

from charlee_collector_tools.cli import main

if __name__ == "__main__":
    main()
