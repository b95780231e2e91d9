"""The Agent's embedded `datadog_agent` module, as ddlab-agent provides it to Python checks.

Same functions and signatures as the Agent's C bindings (`rtloader/common/builtins/datadog_agent.c`).
The host configures it once at start with what the Rust side knows: the agent version, hostname,
host tags, the `datadog.yaml` settings and the folder for the persistent cache. Until then it answers
like an Agent with an empty configuration.
"""

import copy
import json
import os
import re
import socket
import tempfile
import time

import ddlab_obfuscate
import ddlab_runtime

# What the Agent answers for settings the configuration does not set, for the keys checks and
# `datadog_checks.base` ask about. Anything else unset is None, as `config.Get` gives nil.
DEFAULTS = {
    "log_level": "info",
    "logs_enabled": False,
    "enable_metadata_collection": True,
    "integration_tracing": False,
    "integration_tracing_futures": False,
    "integration_tracing_exhaustive": False,
    "integration_profiling": False,
    "use_boringssl": False,
    "disable_py3_validation": False,
    "check_runners": 4,
    "min_collection_interval": 15,
    "site": "datadoghq.com",
}

_settings = {
    "version": "0.0.0",
    "hostname": "",
    "host_tags": [],
    "config": {},
    "cache_dir": None,
    "process_start_time": time.time(),
}
_external_tags = []
_issues = {}


def _configure(version, hostname, host_tags, config, cache_dir, process_start_time):
    """Called once by the host before any check is imported."""
    _settings["version"] = str(version)
    _settings["hostname"] = str(hostname or "") or socket.gethostname()
    _settings["host_tags"] = [str(tag) for tag in (host_tags or [])]
    _settings["config"] = dict(config or {})
    _settings["cache_dir"] = cache_dir
    _settings["process_start_time"] = float(process_start_time or time.time())


def get_version():
    return _settings["version"]


def get_config(key):
    """The value of a `datadog.yaml` setting (`a.b` reaches nested keys), or None when unset.

    A setting given as null counts as unset, so the Agent's default (or the resolved hostname) applies.
    """
    config = _settings["config"]
    if config.get(key) is not None:
        return copy.deepcopy(config[key])
    node = config
    for part in str(key).split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        else:
            node = None
            break
    if node is not None:
        return copy.deepcopy(node)
    if key == "run_path":
        return _settings["cache_dir"]
    if key == "hostname":
        return _settings["hostname"]
    return copy.deepcopy(DEFAULTS.get(key))


def get_hostname():
    return _settings["hostname"]


def get_host_tags():
    """Host tags as the Agent gives them: a JSON object of tag lists by source."""
    return json.dumps({"system": list(_settings["host_tags"])})


def get_clustername():
    # Not in a Kubernetes cluster.
    return ""


def headers(agentConfig=None, http_host=None, **kwargs):
    """The HTTP headers the Agent's checks send (`util.headers`)."""
    result = {
        "User-Agent": "Datadog Agent/{}".format(get_version()),
        "Content-Type": "application/x-www-form-urlencoded",
        "Accept": "text/html, */*",
    }
    if http_host is not None:
        result["Host"] = http_host
    return result


def log(message, level):
    """A log line from a check's logger, already formatted as `<check id> | (file:line) | message`."""
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    ddlab_runtime.log(int(level), str(message))


def send_log(log_line, check_id):
    """Logs a check sends to the Logs product; log collection is outside the lab, so they are counted only."""
    ddlab_runtime.notice_once(check_id, "send_log", 20,
                              "{} | logs sent with send_log are dropped: ddlab-agent does not collect logs"
                              .format(check_id or "-"))


def set_check_metadata(check_id, name, value):
    """Inventory metadata (`version.raw`, `flavor`…), shown under `metadata:` in status."""
    ddlab_runtime.add(check_id, "metadata", [str(name), str(value)])


def set_external_tags(external_tags):
    """Host tags a check reports for other hosts: kept, not sent (no cloud hosts in the lab)."""
    del _external_tags[:]
    _external_tags.extend(external_tags or [])


def tracemalloc_enabled():
    return False


def write_persistent_cache(key, value):
    """Stores `value` under `key` in the cache folder, as the Agent does in its `run_path`."""
    path = _cache_file(key, create=True)
    folder = os.path.dirname(path)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".tmp-")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(str(value))
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


def read_persistent_cache(key):
    """The value stored under `key`, or "" when there is none."""
    try:
        path = _cache_file(key, create=False)
        with open(path, "r", encoding="utf-8") as file:
            return file.read()
    except (OSError, ValueError):
        return ""


_INVALID_CACHE_CHARS = re.compile(r"[^a-zA-Z0-9_-]")


def _cache_file(key, create):
    # The Agent's layout: `check_name:hash:rest` is stored as `<run_path>/check_name/hashrest`, with
    # every character other than letters, digits, `_` and `-` removed.
    folder = _settings["cache_dir"]
    if not folder:
        raise RuntimeError("the persistent cache has no folder: the check host was not configured")
    parts = str(key).split(":", 1)
    first = _INVALID_CACHE_CHARS.sub("", parts[0])
    if len(parts) == 1:
        if not first:
            raise ValueError("invalid persistent cache key {!r}".format(key))
        if create:
            os.makedirs(folder, mode=0o700, exist_ok=True)
        return os.path.join(folder, first)
    rest = _INVALID_CACHE_CHARS.sub("", parts[1])
    if not first or not rest:
        raise ValueError("invalid persistent cache key {!r}".format(key))
    if create:
        os.makedirs(os.path.join(folder, first), mode=0o700, exist_ok=True)
    return os.path.join(folder, first, rest)


def obfuscate_sql(query, options=None):
    """Obfuscates a SQL query; with `return_json_metadata` in the JSON options, answers the Agent's JSON."""
    opts = _options(options)
    result = ddlab_obfuscate.obfuscate_sql(query, opts)
    if opts.get("return_json_metadata"):
        return json.dumps(result)
    return result["query"]


def obfuscate_sql_exec_plan(plan, normalize=False):
    return ddlab_obfuscate.obfuscate_sql_exec_plan(plan, bool(normalize))


def obfuscate_mongodb_string(command):
    return ddlab_obfuscate.obfuscate_mongodb_string(command)


def get_process_start_time():
    """When the agent process started, in seconds since the epoch."""
    return _settings["process_start_time"]


def emit_agent_telemetry(check_name, metric_name, metric_value, metric_type):
    # The Agent's internal telemetry is not part of what the lab reports.
    pass


def report_issue(check_name, report_json):
    issue = json.loads(report_json) if report_json else {}
    _issues[issue.get("id", check_name)] = issue
    ddlab_runtime.log(30, "{} | reported issue: {}".format(check_name, issue.get("description", report_json)))


def resolve_issue(issue_id):
    _issues.pop(issue_id, None)


def _options(options):
    if options is None or options == "":
        return {}
    if isinstance(options, dict):
        return options
    try:
        decoded = json.loads(options)
    except ValueError as error:
        raise ValueError("obfuscation options are not valid JSON: {}".format(error))
    return decoded if isinstance(decoded, dict) else {}
