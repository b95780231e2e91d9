"""A check whose constructor refuses the configuration."""
from datadog_checks.base import AgentCheck


class BadConstructorCheck(AgentCheck):
    def __init__(self, name, init_config, instances):
        super(BadConstructorCheck, self).__init__(name, init_config, instances)
        raise ValueError("host is required")

    def check(self, instance):
        pass
