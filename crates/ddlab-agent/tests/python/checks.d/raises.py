"""A check whose run fails."""
from datadog_checks.base import AgentCheck


class RaisesCheck(AgentCheck):
    def check(self, instance):
        self.gauge("raises.before", 1)
        raise ValueError("the database said no")
