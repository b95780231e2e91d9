"""Keeps state in the check object: the number of runs, submitted as a rate and a monotonic count."""
from datadog_checks.base import AgentCheck


class CounterCheck(AgentCheck):
    def __init__(self, name, init_config, instances):
        super(CounterCheck, self).__init__(name, init_config, instances)
        self.runs = 0

    def check(self, instance):
        self.runs += 1
        self.rate("counter.rate", self.runs * 10)
        self.monotonic_count("counter.total", self.runs)
        self.gauge("counter.runs", self.runs)
