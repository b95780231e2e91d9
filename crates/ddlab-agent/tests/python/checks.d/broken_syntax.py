"""A check file that is not valid Python."""
from datadog_checks.base import AgentCheck


class BrokenCheck(AgentCheck):
    def check(self, instance)
        pass
