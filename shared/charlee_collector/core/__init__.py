"""The vocabulary every layer shares, importing nothing of the package.

``errors`` (the error tree), ``settings`` (the environment, parsed once), ``clock``,
``limits`` (column widths and the interval bounds), ``opportunity`` (the one shape every source
produces), ``scheduling`` (when a platform is due again), ``text`` (text the database can hold),
``credentials`` (which secrets a platform may name, and where they may go), ``hosts``,
``terms`` (how long a source's content may stay).
"""
