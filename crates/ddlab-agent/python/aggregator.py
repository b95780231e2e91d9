"""The Agent's embedded `aggregator` module, as ddlab-agent provides it to Python checks.

`datadog_checks.base` imports `aggregator` and `datadog_agent` first and only falls back to its test
stubs when they are missing, so a module of this name on `sys.path` makes checks run as under the
Agent (`AGENT_RUNNING` is True). The functions keep the signatures of the Agent's C bindings
(`rtloader/common/builtins/aggregator.c`); instead of handing samples to the Go aggregator they file
them under the check ID until the host sends them to the Rust side, which applies the per-type
semantics (rates between runs, monotonic deltas, histogram aggregates).
"""

import math

import ddlab_runtime

GAUGE = 0
RATE = 1
COUNT = 2
MONOTONIC_COUNT = 3
COUNTER = 4
HISTOGRAM = 5
HISTORATE = 6

_TYPE_NAMES = {
    GAUGE: "gauge",
    RATE: "rate",
    COUNT: "count",
    MONOTONIC_COUNT: "monotonic_count",
    COUNTER: "counter",
    HISTOGRAM: "histogram",
    HISTORATE: "historate",
}


def submit_metric(check, check_id, mtype, name, value, tags, hostname, flush_first_value=False):
    """One metric sample; `mtype` is one of the constants above, `hostname` "" means the agent's."""
    check_id = _text(check_id, "check_id")
    name = _text(name, "name")
    if isinstance(mtype, bool) or not isinstance(mtype, int):
        raise TypeError("mtype must be an integer, not {}".format(type(mtype).__name__))
    if mtype not in _TYPE_NAMES:
        ddlab_runtime.log(30, "{} | unknown metric type {} for metric {}; sample dropped".format(
            check_id or "-", mtype, name), check_id=check_id or None)
        return
    value = float(value)
    if math.isnan(value) or math.isinf(value):
        # The Agent's check sampler refuses NaN and infinite samples.
        ddlab_runtime.log(10, "{} | ignoring sample of {} with value {}".format(check_id or "-", name, value),
                          check_id=check_id or None)
        return
    ddlab_runtime.add(check_id, "metrics", {
        "type": mtype,
        "name": name,
        "value": value,
        "tags": _tags(tags),
        "hostname": _text(hostname, "hostname") if hostname is not None else "",
        "flush_first_value": bool(flush_first_value),
    })


def submit_service_check(check, check_id, name, status, tags, hostname, message):
    """One service check: status 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN."""
    check_id = _text(check_id, "check_id")
    if isinstance(status, bool) or not isinstance(status, int):
        raise TypeError("status must be an integer, not {}".format(type(status).__name__))
    ddlab_runtime.add(check_id, "service_checks", {
        "name": _text(name, "name"),
        "status": status,
        "tags": _tags(tags),
        "hostname": _text(hostname, "hostname") if hostname is not None else "",
        "message": _text(message, "message") if message is not None else "",
    })


_EVENT_STRINGS = (
    "msg_title",
    "msg_text",
    "priority",
    "alert_type",
    "host",
    "aggregation_key",
    "source_type_name",
    "event_type",
)


def submit_event(check, check_id, event):
    """One event, a dict with the keys `AgentCheck.event` documents; other keys are ignored, as by the Agent."""
    check_id = _text(check_id, "check_id")
    if not isinstance(event, dict):
        raise TypeError("event must be a dict, not {}".format(type(event).__name__))
    submitted = {}
    for key in _EVENT_STRINGS:
        value = event.get(key)
        if value is not None and value != "":
            submitted[key] = _text(value, key) if isinstance(value, (str, bytes)) else str(value)
    timestamp = event.get("timestamp")
    if timestamp not in (None, ""):
        submitted["timestamp"] = int(float(timestamp))
    submitted["tags"] = _tags(event.get("tags"))
    ddlab_runtime.add(check_id, "events", submitted)


def submit_histogram_bucket(check, check_id, name, value, lower_bound, upper_bound, monotonic, hostname, tags,
                            flush_first_value=False):
    """OpenMetrics histogram buckets become distributions in the Agent; ddlab-agent has no sketches."""
    _dropped(check_id, "histogram_bucket",
             "histogram buckets (send_distribution_buckets) are not supported by ddlab-agent; "
             "bucket samples such as {} are dropped".format(name))


def submit_histogram_bucket_multi(check, check_id, name, value, lower_bound, upper_bound, monotonic, hostname,
                                  tags, flush_first_value=False):
    submit_histogram_bucket(check, check_id, name, value, lower_bound, upper_bound, monotonic, hostname, tags,
                            flush_first_value)


def submit_event_platform_event(check, check_id, raw_event, event_type):
    """Database Monitoring payloads (`dbm-samples`, `dbm-metrics`…) go to the event platform, out of scope."""
    _dropped(check_id, "event_platform:" + str(event_type),
             "event platform events ({}) are not supported by ddlab-agent and are dropped".format(event_type),
             level=20)


def _dropped(check_id, key, message, level=30):
    check_id = check_id if isinstance(check_id, str) else ""
    ddlab_runtime.notice_once(check_id, key, level, "{} | {}".format(check_id or "-", message))


def _text(value, what):
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise TypeError("{} must be a string, not {}".format(what, type(value).__name__))


def _tags(tags):
    # Like the C bindings: a list or tuple of strings; anything else in it is skipped.
    if tags is None:
        return []
    if not isinstance(tags, (list, tuple)):
        raise TypeError("tags must be a list or a tuple, not {}".format(type(tags).__name__))
    result = []
    for tag in tags:
        if isinstance(tag, str):
            result.append(tag)
        elif isinstance(tag, bytes):
            result.append(tag.decode("utf-8", "replace"))
    return result
