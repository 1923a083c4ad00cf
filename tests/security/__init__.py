"""Security tests: what a hostile platform (or its DNS, or its redirects) must never reach or learn."""
