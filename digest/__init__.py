"""digest: turn a Hugo or Jekyll content folder into an email newsletter issue."""

__version__ = "0.1.0"
