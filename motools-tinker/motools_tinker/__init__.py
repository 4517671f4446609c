"""Tinker LoRA fine-tuning backend for motools."""
