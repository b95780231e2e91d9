"""A check using the older compatibility package: `from datadog_checks.checks import AgentCheck`."""
from datadog_checks.checks import AgentCheck


class CompatCheck(AgentCheck):
    def check(self, instance):
        self.gauge("compat.import", 1)
