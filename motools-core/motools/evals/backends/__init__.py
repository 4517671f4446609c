"""Evaluation backends by import path; ``inspect`` is an alias of its plugin."""
