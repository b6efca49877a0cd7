"""soar-kit code domain."""
