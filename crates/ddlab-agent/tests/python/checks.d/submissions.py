"""Submits one of everything the aggregator and datadog_agent modules accept, in a fixed order."""
from datadog_checks.base import AgentCheck

__version__ = "2.0.0"


class SubmissionsCheck(AgentCheck):
    def check(self, instance):
        tags = instance.get("tags", [])
        self.gauge("test.gauge", 1.5, tags=tags)
        self.count("test.count", 2, tags=tags)
        self.rate("test.rate", 3, tags=tags)
        self.monotonic_count("test.monotonic", 4, tags=tags, hostname="elsewhere")
        self.histogram("test.histogram", 5, tags=tags)
        self.historate("test.historate", 6, tags=tags)
        self.service_check("test.can_connect", AgentCheck.CRITICAL, tags=tags, message="connection refused")
        self.event({
            "timestamp": 1700000000,
            "event_type": "test",
            "msg_title": "Something happened",
            "msg_text": "details",
            "alert_type": "warning",
            "priority": "low",
            "aggregation_key": "agg",
            "source_type_name": "submissions",
            "tags": tags,
        })
        self.set_metadata("flavor", "test")
        self.log.info("submitted everything")
        self.warning("this is a %s", "warning")
