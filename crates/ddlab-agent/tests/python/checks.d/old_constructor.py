"""An Agent 5 style check: the constructor takes agentConfig before instances."""
from checks import AgentCheck


class OldConstructorCheck(AgentCheck):
    def __init__(self, name, init_config, agentConfig, instances=None):
        super(OldConstructorCheck, self).__init__(name, init_config, agentConfig, instances)
        self.had_agent_config = isinstance(agentConfig, dict) and "hostname" in agentConfig

    def check(self, instance):
        self.gauge("old_constructor.agent_config", 1 if self.had_agent_config else 0)
