"""Testing help for plugin authors: the domain conformance kit (:mod:`.conformance`, re-exported
here, so ``from soar_kit.testing import assert_domain_conforms`` keeps working) and tiny
test models (:mod:`.tiny_models`)."""

from soar_kit.testing.conformance import (
    CheckResult,
    ConformanceError,
    assert_domain_conforms,
    check_domain,
)

__all__ = ["CheckResult", "ConformanceError", "assert_domain_conforms", "check_domain"]
