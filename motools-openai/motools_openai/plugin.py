"""Entry point of the motools-openai plugin (registers nothing heavy)."""

from __future__ import annotations
