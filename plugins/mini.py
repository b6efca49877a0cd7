"""Built-in soar-mini model source (filled in by the soar-mini work)."""
