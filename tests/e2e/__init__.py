"""Browser journeys (Playwright + Debian Chromium against a live server), marker ``browser``."""
