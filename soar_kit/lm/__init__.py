"""Language-model mechanics, torch imported lazily: sampling (:mod:`.sampling`), weights and
their snapshots (:mod:`.weights`), and RLOO, the one policy-gradient estimator of the project
(:mod:`.rloo`), used by the teacher update and the built-in student trainer alike."""
