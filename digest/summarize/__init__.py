"""Summarize: an article's TL;DR and key figures, from its front matter and body (spec §4, §5)."""
