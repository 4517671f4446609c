"""Entry point of the motools-tinker plugin (registers nothing heavy)."""

from __future__ import annotations
