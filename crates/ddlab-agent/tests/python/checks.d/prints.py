"""A check that writes to stdout in every way it can, including text that looks like the protocol."""
import os
import sys

from datadog_checks.base import AgentCheck


class PrintsCheck(AgentCheck):
    def check(self, instance):
        print("hello from print")
        print('{"id": 1, "ok": {}}')
        sys.stdout.write("no newline at the end")
        os.write(1, b'{"id": 2, "ok": {}}\n')
        sys.__stdout__.write("through sys.__stdout__\n")
        sys.__stdout__.flush()
        self.gauge("prints.done", 1)
