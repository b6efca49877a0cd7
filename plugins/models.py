"""Built-in models (filled in by the models/trainers work)."""
