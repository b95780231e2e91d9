"""Imports only while `<run_path>/fail-import` does not exist: a check that breaks between two processes."""
import os

import datadog_agent
from datadog_checks.base import AgentCheck

if os.path.exists(os.path.join(datadog_agent.get_config("run_path"), "fail-import")):
    raise RuntimeError("told to fail by fail-import")


class FailsToReloadCheck(AgentCheck):
    def check(self, instance):
        self.gauge("fails_to_reload.ok", 1)
