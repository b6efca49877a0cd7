"""Built-in trainers (filled in by the models/trainers work)."""
