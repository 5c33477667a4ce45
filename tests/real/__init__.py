"""Tests against real inference engines, opt-in (``make real``); skipped by ``make test``."""
