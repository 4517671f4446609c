"""Entry point of the mozoo plugin (registers nothing heavy)."""

from __future__ import annotations
