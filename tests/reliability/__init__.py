"""Reliability recipes of RELIABILITY.md as bounded, self-stopping tests (``-m slow``)."""
