"""Charlee Collector: keeps a freelancer's database full of fresh work opportunities."""

from __future__ import annotations

__version__ = "0.1.0"
