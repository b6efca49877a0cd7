"""Built-in backends (filled in by the models/trainers work)."""
