"""Entry point of the motools-inspect plugin (registers nothing heavy)."""

from __future__ import annotations
