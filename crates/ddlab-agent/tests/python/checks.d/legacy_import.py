"""A check written for Agent 5: `from checks import AgentCheck`."""
from checks import AgentCheck


class LegacyCheck(AgentCheck):
    def check(self, instance):
        self.gauge("legacy.import", 1)
