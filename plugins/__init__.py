"""Bundled non-domain plugins of the ``soar-kit`` distribution (importable as ``soarkit_plugins``).

They use only the public core API, exactly as a third-party plugin would.
"""
