"""Entry point of the math domain (work in progress)."""
