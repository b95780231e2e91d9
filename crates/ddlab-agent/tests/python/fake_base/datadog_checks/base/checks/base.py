"""Stand-in for `datadog_checks.base.checks.base.AgentCheck`: the calls to `aggregator` and
`datadog_agent` that the real class makes, without its features."""
import copy
import json
import logging
import traceback

import aggregator
import datadog_agent


class _AgentLogHandler(logging.Handler):
    def emit(self, record):
        datadog_agent.log("{} | ({}:{}) | {}".format(getattr(record, "_check_id", "-"), record.filename,
                                                     record.lineno, self.format(record)), record.levelno)


_root = logging.getLogger()
_root.addHandler(_AgentLogHandler())
_root.setLevel(logging.INFO)


class AgentCheck(object):
    OK, WARNING, CRITICAL, UNKNOWN = (0, 1, 2, 3)

    def __init__(self, *args, **kwargs):
        # The real class's argument rules: (name, init_config, instances) or, the old way,
        # (name, init_config, agentConfig, instances).
        self.name = kwargs.get("name", args[0] if args else "")
        self.init_config = kwargs.get("init_config", args[1] if len(args) > 1 else {})
        self.agentConfig = kwargs.get("agentConfig", args[2] if len(args) > 3 else {})
        self.instances = kwargs.get("instances", args[3] if len(args) > 3 else args[2] if len(args) > 2 else [])
        self.instance = self.instances[0] if self.instances else None
        self.check_id = ""
        self.warnings = []
        self.log = logging.LoggerAdapter(logging.getLogger("checks." + self.name), {})

    def __setattr__(self, name, value):
        object.__setattr__(self, name, value)
        if name == "check_id" and "log" in self.__dict__:
            self.log.extra = {"_check_id": value}

    def _submit(self, mtype, name, value, tags, hostname, flush_first_value=False):
        aggregator.submit_metric(self, self.check_id, mtype, name, float(value), list(tags or []),
                                 hostname or "", flush_first_value)

    def gauge(self, name, value, tags=None, hostname=None):
        self._submit(aggregator.GAUGE, name, value, tags, hostname)

    def count(self, name, value, tags=None, hostname=None):
        self._submit(aggregator.COUNT, name, value, tags, hostname)

    def rate(self, name, value, tags=None, hostname=None):
        self._submit(aggregator.RATE, name, value, tags, hostname)

    def monotonic_count(self, name, value, tags=None, hostname=None, flush_first_value=False):
        self._submit(aggregator.MONOTONIC_COUNT, name, value, tags, hostname, flush_first_value)

    def increment(self, name, value=1, tags=None, hostname=None):
        self._submit(aggregator.COUNTER, name, value, tags, hostname)

    def histogram(self, name, value, tags=None, hostname=None):
        self._submit(aggregator.HISTOGRAM, name, value, tags, hostname)

    def historate(self, name, value, tags=None, hostname=None):
        self._submit(aggregator.HISTORATE, name, value, tags, hostname)

    def service_check(self, name, status, tags=None, hostname=None, message=None):
        aggregator.submit_service_check(self, self.check_id, name, status, list(tags or []), hostname or "",
                                        message or "")

    def event(self, event):
        aggregator.submit_event(self, self.check_id, event)

    def set_metadata(self, name, value):
        datadog_agent.set_check_metadata(self.check_id, name, str(value))

    def warning(self, message, *args):
        message = message % args if args else message
        self.log.warning(message)
        self.warnings.append(message)

    def get_warnings(self):
        warnings, self.warnings = self.warnings, []
        return warnings

    def read_persistent_cache(self, key):
        return datadog_agent.read_persistent_cache("{}_{}".format(self.check_id, key))

    def write_persistent_cache(self, key, value):
        datadog_agent.write_persistent_cache("{}_{}".format(self.check_id, key), value)

    def check(self, instance):
        raise NotImplementedError

    def run(self):
        try:
            self.check(copy.deepcopy(self.instances[0]))
            return ""
        except Exception as e:
            return json.dumps([{"message": str(e), "traceback": traceback.format_exc()}])
