"""State shared by ddlab-agent's `aggregator` and `datadog_agent` modules and its check host.

The real Agent hands every submission straight to its Go aggregator. Here a check's submissions, log
lines and metadata are buffered per check ID until the host collects them at the end of a run and
sends them to the Rust side in one answer. The host runs one check at a time, so "the check that is
running" is well defined; submissions that carry no check ID are filed under it.

Log lines that belong to no check (a library logging at import time, a background thread between
runs) are written to stderr as `ddlab-log {"level": N, "message": "..."}`, which the Rust side turns
into its own log events.
"""

import json
import sys
import threading

LOG_PREFIX = "ddlab-log "

_lock = threading.RLock()
_buffers = {}
_known = set()
_current = None
_host_stderr = sys.stderr


class Buffer(object):
    """What one check submitted since its buffer was last taken."""

    __slots__ = ("metrics", "service_checks", "events", "metadata", "logs", "notices")

    def __init__(self):
        self.metrics = []
        self.service_checks = []
        self.events = []
        self.metadata = []
        self.logs = []
        # Keys of the once-per-check notices already logged (see `notice_once`).
        self.notices = set()


def set_host_stderr(stream):
    """Where log lines that belong to no check go; the host passes its protocol-free stderr."""
    global _host_stderr
    _host_stderr = stream


def register(check_id):
    """Marks `check_id` as loaded, so its log lines are recognised by their prefix."""
    with _lock:
        _known.add(check_id)
        _buffers.setdefault(check_id, Buffer())


def forget(check_id):
    with _lock:
        _known.discard(check_id)
        _buffers.pop(check_id, None)


def set_current(check_id):
    """The check being loaded or run by the host, or None between requests."""
    global _current
    with _lock:
        _current = check_id


def current():
    return _current


def _buffer(check_id):
    # Called with the lock held. An empty check ID (a submission made in `__init__`, before the
    # Agent sets `check_id`) belongs to the check being loaded.
    if not check_id:
        check_id = _current
    if check_id is None:
        return None
    buffer = _buffers.get(check_id)
    if buffer is None:
        buffer = Buffer()
        _buffers[check_id] = buffer
    return buffer


def add(check_id, kind, item):
    """Files one submission (`kind` is a Buffer attribute) under `check_id`."""
    with _lock:
        buffer = _buffer(check_id)
        if buffer is None:
            host_log(30, "dropped a {} submitted outside any check: {!r}".format(kind, item))
            return
        getattr(buffer, kind).append(item)


def take(check_id):
    """Everything `check_id` submitted since the last call; its buffer starts empty again."""
    with _lock:
        buffer = _buffers.get(check_id)
        fresh = Buffer()
        if buffer is not None:
            fresh.notices = buffer.notices
        _buffers[check_id] = fresh
        return buffer if buffer is not None else Buffer()


def log(level, message, check_id=None):
    """Files a log line under its check: the given ID, the `<check id> | ` prefix, or the running check."""
    with _lock:
        if check_id is None:
            prefix = message.split(" | ", 1)[0]
            check_id = prefix if prefix in _known else _current
        if check_id is None:
            host_log(level, message)
            return
        _buffer(check_id).logs.append({"level": int(level), "message": message})


def notice_once(check_id, key, level, message):
    """Logs `message` for `check_id` the first time `key` is seen for it."""
    with _lock:
        buffer = _buffer(check_id)
        if buffer is None:
            host_log(level, message)
            return
        if key in buffer.notices:
            return
        buffer.notices.add(key)
        buffer.logs.append({"level": int(level), "message": message})


def host_log(level, message):
    """A log line of the host itself, for the Rust side's log."""
    line = LOG_PREFIX + json.dumps({"level": int(level), "message": str(message)}) + "\n"
    try:
        _host_stderr.write(line)
        _host_stderr.flush()
    except (OSError, ValueError):
        # stderr is gone only when the Rust side is; there is nobody left to tell.
        pass


class CapturedStdout(object):
    """`sys.stdout` for checks: each printed line becomes an INFO log line of the running check.

    The protocol has its own file descriptor, so a check that prints cannot corrupt it; this keeps
    what it prints visible in `ddlab-agent check` output instead of losing it.
    """

    encoding = "utf-8"
    errors = "replace"

    def __init__(self):
        self._pending = {}
        self._pending_lock = threading.Lock()

    def write(self, text):
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        owner = _current
        with self._pending_lock:
            pending = self._pending.get(owner, "") + text
            lines = pending.split("\n")
            self._pending[owner] = lines.pop()
        for line in lines:
            self._emit(owner, line)
        return len(text)

    def _emit(self, owner, line):
        line = line.rstrip("\r")
        if owner is None:
            host_log(20, "(stdout) | " + line)
        else:
            log(20, "{} | (stdout) | {}".format(owner, line), check_id=owner)

    def flush(self):
        """Sends a partial last line of the running check, so a run's output is complete."""
        owner = _current
        with self._pending_lock:
            pending = self._pending.pop(owner, "")
        if pending:
            self._emit(owner, pending)

    def isatty(self):
        return False

    def writable(self):
        return True

    def fileno(self):
        # Code that writes to the descriptor directly reaches stderr: the host points fd 1 there.
        return 1

    def writelines(self, lines):
        for line in lines:
            self.write(line)
