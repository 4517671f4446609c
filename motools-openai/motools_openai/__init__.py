"""OpenAI fine-tuning backend for motools."""
