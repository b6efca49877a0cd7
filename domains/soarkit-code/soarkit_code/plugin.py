"""Entry point of the code domain (work in progress)."""
