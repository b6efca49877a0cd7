"""``python -m soar_kit`` is the same as the ``soarkit`` command."""

from soar_kit.commands.cli import main

main()
