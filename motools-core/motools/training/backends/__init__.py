"""Training backends by import path; ``openai`` and ``tinker`` are aliases of their plugins."""
