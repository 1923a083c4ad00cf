"""Feeds: RSS/Atom (``rss``), JSON Feed (``json_feed``) and the XML safety rules in front of them."""
