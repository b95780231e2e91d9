"""A check that never finishes."""
import threading

from datadog_checks.base import AgentCheck


def wait_forever():
    threading.Event().wait()


class HangsCheck(AgentCheck):
    def check(self, instance):
        self.gauge("hangs.before", 1)
        wait_forever()
