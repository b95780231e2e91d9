"""A check that takes the whole Python process down."""
import os

from datadog_checks.base import AgentCheck


class ExitsCheck(AgentCheck):
    def check(self, instance):
        os._exit(7)
