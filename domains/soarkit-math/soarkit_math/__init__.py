"""soar-kit math domain."""
