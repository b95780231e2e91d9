"""Reports what the datadog_agent module answers, as tags, and round-trips the persistent cache."""
import json

import datadog_agent
from datadog_checks.base import AgentCheck


class AgentApiCheck(AgentCheck):
    def check(self, instance):
        previous = self.read_persistent_cache("runs") or "0"
        runs = int(previous) + 1
        self.write_persistent_cache("runs", str(runs))
        host_tags = json.loads(datadog_agent.get_host_tags())["system"]
        self.gauge("agent_api.runs", runs, tags=[
            "hostname:" + datadog_agent.get_hostname(),
            "version:" + datadog_agent.get_version(),
            "host_tags:" + ",".join(host_tags),
            "apm_enabled:" + str(datadog_agent.get_config("apm_config.enabled")),
            "log_level:" + str(datadog_agent.get_config("log_level")),
            "unset:" + str(datadog_agent.get_config("no_such_setting")),
        ])
