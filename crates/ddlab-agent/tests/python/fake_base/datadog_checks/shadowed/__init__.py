"""An "installed integration" named like a checks.d file, to test which one the host loads."""
from datadog_checks.base import AgentCheck

__version__ = "9.9.9"


class ShadowedIntegration(AgentCheck):
    def check(self, instance):
        self.gauge("shadowed.source", 1, tags=["from:integration"])
