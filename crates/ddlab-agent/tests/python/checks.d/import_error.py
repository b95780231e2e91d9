"""A check that imports a module nobody installed."""
from datadog_checks.base import AgentCheck

import ddlab_module_that_does_not_exist  # noqa: F401


class ImportErrorCheck(AgentCheck):
    def check(self, instance):
        pass
