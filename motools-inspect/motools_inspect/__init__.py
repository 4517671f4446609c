"""Inspect AI evaluation backend for motools."""
