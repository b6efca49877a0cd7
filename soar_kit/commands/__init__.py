"""What a user runs: the ``soarkit`` CLI (:mod:`.cli`), ``soarkit bench`` (:mod:`.bench`) and
``soarkit eval`` (:mod:`.evaluate`). Nothing in the algorithm imports them."""
