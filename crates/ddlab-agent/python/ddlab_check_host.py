"""ddlab-agent's Python check host: loads Agent checks and runs them for the Rust agent.

One long-lived process per agent, started as `python ddlab_check_host.py` with this folder first on
PYTHONPATH so that `import aggregator`, `import datadog_agent` and `from checks import AgentCheck`
find ddlab-agent's modules. The Rust side writes one JSON request per line to stdin and reads one
JSON answer per line, in order:

    {"id": 1, "op": "init", "agent": {"version", "hostname", "host_tags", "config", "cache_dir",
                                      "checksd", "process_start_time"}}
    {"id": 2, "op": "load", "handle": 7, "name": "my_metric", "check_id": "my_metric:5ba8...",
                            "init_config": {...}, "instance": {...}, "source": "/etc/.../my_metric.yaml"}
    {"id": 3, "op": "run", "handle": 7, "timeout": 30.0}
    {"id": 4, "op": "unload", "handle": 7}
    {"id": 5, "op": "shutdown"}

    {"id": N, "ok": {...}}                     success; for "run", the run's output (see `_output`)
    {"id": N, "error": {"message", "traceback", "file", "line"}}   the request failed
    {"id": N, "timeout": {"message", "traceback", "output"}}       the run did not finish in time;
                                                                 the host exits right after

The protocol uses private duplicates of the original stdin and stdout. File descriptor 1 is then
pointed at stderr and `sys.stdout` turns printed lines into log lines of the running check, so
nothing a check prints, from Python or from C, can corrupt the protocol.

Checks are loaded the way the Agent's Python loader does (`pkg/collector/python/loader.go`,
`rtloader/three/three.cpp`): the module `datadog_checks.<name>` (an installed integration) first,
then `<name>` from `sys.path`, to which the checks.d folders are appended last; in the module, the
first class by name that subclasses `AgentCheck` and has no subclasses of its own; constructed with
keywords `name`, `init_config`, `instances` (a one-element tuple), retried with `agentConfig` for
old-style constructors; then `check_id` is set. Check objects live as long as the
process, so rates and other state carry over between runs.

A run happens on a thread of its own while the main thread waits for it with the run's timeout. A
check that does not finish in time cannot be stopped, so the host answers with where the check was
stuck and exits; the Rust side starts a new host and loads the checks again.
"""

import importlib
import json
import os
import platform
import signal
import sys
import threading
import traceback

import aggregator  # noqa: F401  (imported first so checks find ddlab-agent's module)
import datadog_agent
import ddlab_runtime

PROTOCOL_VERSION = 1
EXIT_AFTER_TIMEOUT = 3


class RequestError(Exception):
    """A request that fails with a message for the Rust side (not a bug of the host)."""

    def __init__(self, message, traceback_text="", file=None, line=None):
        Exception.__init__(self, message)
        self.message = message
        self.traceback_text = traceback_text
        self.file = file
        self.line = line

    def payload(self):
        payload = {"message": self.message, "traceback": self.traceback_text}
        if self.file:
            payload["file"] = self.file
            if self.line:
                payload["line"] = self.line
        return payload


class LoadedCheck(object):
    __slots__ = ("handle", "name", "check_id", "check", "module")

    def __init__(self, handle, name, check_id, check, module):
        self.handle = handle
        self.name = name
        self.check_id = check_id
        self.check = check
        self.module = module


class Host(object):
    def __init__(self, protocol_out):
        self._out = protocol_out
        self._out_lock = threading.Lock()
        self._checks = {}
        self._check_ids = {}
        self._checksd = []
        self._base = None
        self._base_error = None
        self._initialised = False
        self._agent_config = {}

    # -- protocol ---------------------------------------------------------------------------------

    def serve(self, protocol_in):
        while True:
            line = protocol_in.readline()
            if not line:
                # The Rust side is gone: nothing will ever ask for results again.
                return
            if not line.strip():
                continue
            try:
                request = json.loads(line.decode("utf-8"))
            except ValueError as error:
                self._send({"id": None, "error": {"message": "request is not valid JSON: {}".format(error),
                                                  "traceback": ""}})
                continue
            self._handle(request)

    def _handle(self, request):
        request_id = request.get("id") if isinstance(request, dict) else None
        op = request.get("op") if isinstance(request, dict) else None
        handler = {
            "init": self._init,
            "load": self._load,
            "run": self._run,
            "unload": self._unload,
            "shutdown": self._shutdown,
        }.get(op)
        try:
            if handler is None:
                raise RequestError("unknown request op {!r}".format(op))
            if op != "init" and not self._initialised:
                raise RequestError("the host must be sent \"init\" before {!r}".format(op))
            result = handler(request_id, request)
        except RequestError as error:
            self._send({"id": request_id, "error": error.payload()})
            return
        except Exception as error:
            self._send({"id": request_id, "error": {
                "message": "internal error of the check host while handling {!r}: {}: {}".format(
                    op, type(error).__name__, error),
                "traceback": traceback.format_exc(),
            }})
            return
        if result is not None:
            self._send({"id": request_id, "ok": result})

    def _send(self, message):
        data = json.dumps(message, default=_jsonable, ensure_ascii=False).encode("utf-8") + b"\n"
        with self._out_lock:
            self._out.write(data)
            self._out.flush()

    # -- requests ---------------------------------------------------------------------------------

    def _init(self, request_id, request):
        agent = request.get("agent") or {}
        cache_dir = agent.get("cache_dir")
        if cache_dir:
            os.makedirs(cache_dir, mode=0o700, exist_ok=True)
        self._agent_config = dict(agent.get("config") or {})
        datadog_agent._configure(
            version=agent.get("version", "0.0.0"),
            hostname=agent.get("hostname", ""),
            host_tags=agent.get("host_tags", []),
            config=self._agent_config,
            cache_dir=cache_dir,
            process_start_time=agent.get("process_start_time"),
        )
        # Lowest precedence, as `additional_checksd` in the Agent: a file in checks.d never shadows an
        # installed package of the same name.
        for folder in agent.get("checksd") or []:
            folder = os.path.abspath(str(folder))
            self._checksd.append(folder)
            if folder not in sys.path:
                sys.path.append(folder)
        base_version = None
        try:
            # The Agent's base class is `datadog_checks.checks.AgentCheck`, the same class object as this
            # one; importing it from here avoids that package's star import, which needs optional
            # dependencies. Importing the base package also routes `logging` to `datadog_agent.log`.
            from datadog_checks.base.checks.base import AgentCheck
            from datadog_checks.base import __about__

            self._base = AgentCheck
            base_version = getattr(__about__, "__version__", None)
        except ImportError as error:
            self._base_error = (
                "datadog-checks-base cannot be imported by {}: {}. Install it with "
                "`{} -m pip install --no-deps --require-hashes -r requirements.txt` (the file ships with "
                "ddlab-agent in crates/ddlab-agent/python/)".format(sys.executable, error, sys.executable))
        except Exception as error:
            self._base_error = "importing datadog_checks.base failed: {}: {}\n{}".format(
                type(error).__name__, error, traceback.format_exc())
        self._initialised = True
        return {
            "protocol": PROTOCOL_VERSION,
            "python": platform.python_version(),
            "executable": sys.executable,
            "base_version": base_version,
            "base_error": self._base_error,
            "pid": os.getpid(),
        }

    def _load(self, request_id, request):
        handle = request.get("handle")
        name = request.get("name")
        check_id = request.get("check_id")
        if not isinstance(handle, int) or not isinstance(name, str) or not isinstance(check_id, str):
            raise RequestError("load needs an integer handle and string name and check_id")
        if handle in self._checks:
            raise RequestError("handle {} is already in use".format(handle))
        if check_id in self._check_ids:
            raise RequestError("check {} is already loaded".format(check_id))
        init_config = request.get("init_config")
        if init_config is None:
            init_config = {}
        if not isinstance(init_config, dict):
            raise RequestError("error 'init_config' is not a dict")
        instance = request.get("instance")
        if instance is None:
            instance = {}
        if not isinstance(instance, dict):
            raise RequestError("error instance is not a dict")
        if self._base is None:
            raise RequestError(self._base_error or "datadog-checks-base is not available")

        ddlab_runtime.register(check_id)
        ddlab_runtime.set_current(check_id)
        try:
            module, klass, wheel = self._find_class(name)
            check, deprecated = self._construct(klass, name, init_config, instance, check_id)
        except BaseException:
            ddlab_runtime.forget(check_id)
            raise
        finally:
            sys.stdout.flush()
            ddlab_runtime.set_current(None)
        self._checks[handle] = LoadedCheck(handle, name, check_id, check, module)
        self._check_ids[check_id] = handle
        version = getattr(module, "__version__", None)
        return {
            "module": module.__name__,
            "file": getattr(module, "__file__", None),
            "class": klass.__name__,
            "version": version if isinstance(version, str) else None,
            "wheel": wheel,
            "deprecated_constructor": deprecated,
        }

    def _run(self, request_id, request):
        loaded = self._loaded(request)
        timeout = request.get("timeout")
        if timeout is not None and (not isinstance(timeout, (int, float)) or timeout <= 0):
            raise RequestError("timeout must be a positive number of seconds")
        outcome = {}
        worker = threading.Thread(target=_run_check, args=(loaded.check, outcome),
                                  name="check {}".format(loaded.check_id))
        worker.daemon = True
        ddlab_runtime.set_current(loaded.check_id)
        worker.start()
        worker.join(timeout)
        if worker.is_alive():
            self._timed_out(request_id, loaded, worker, timeout)
        sys.stdout.flush()
        ddlab_runtime.set_current(None)

        if "exception" in outcome:
            error = outcome["exception"]
        else:
            error = _error_from_report(outcome.get("report"))
        try:
            warnings = [_text(w) for w in (loaded.check.get_warnings() or [])]
        except Exception as failure:
            warnings = []
            if error is None:
                error = {"message": "error invoking 'get_warnings' method: {}".format(failure),
                         "traceback": traceback.format_exc()}
        return _output(loaded.check_id, warnings, error)

    def _timed_out(self, request_id, loaded, worker, timeout):
        frame = sys._current_frames().get(worker.ident)
        stack = "".join(traceback.format_stack(frame)) if frame is not None else ""
        sys.stdout.flush()
        ddlab_runtime.set_current(None)
        message = "check {} did not finish within {:g} s".format(loaded.check_id, timeout)
        self._send({"id": request_id, "timeout": {
            "message": message,
            "traceback": "Stack of the check when it timed out (most recent call last):\n" + stack,
            "output": _output(loaded.check_id, [], None),
        }})
        # The check's thread cannot be stopped and may hold locks or half-updated state: only a new
        # process is a clean slate.
        os._exit(EXIT_AFTER_TIMEOUT)

    def _unload(self, request_id, request):
        loaded = self._loaded(request)
        cancel = getattr(loaded.check, "cancel", None)
        ddlab_runtime.set_current(loaded.check_id)
        try:
            if callable(cancel):
                cancel()
        except Exception as error:
            ddlab_runtime.host_log(30, "{} | error invoking 'cancel' method: {}".format(loaded.check_id, error))
        finally:
            sys.stdout.flush()
            ddlab_runtime.set_current(None)
        del self._checks[loaded.handle]
        del self._check_ids[loaded.check_id]
        ddlab_runtime.forget(loaded.check_id)
        return {}

    def _shutdown(self, request_id, request):
        self._send({"id": request_id, "ok": {}})
        # Threads that checks started must not keep the process alive.
        os._exit(0)

    # -- loading ----------------------------------------------------------------------------------

    def _loaded(self, request):
        handle = request.get("handle")
        loaded = self._checks.get(handle)
        if loaded is None:
            raise RequestError("no check is loaded under handle {!r}".format(handle))
        return loaded

    def _find_class(self, name):
        failures = []
        for module_name in ("datadog_checks." + name, name):
            try:
                module = importlib.import_module(module_name)
            except BaseException as error:
                if isinstance(error, KeyboardInterrupt):
                    raise
                failures.append((module_name, error, traceback.format_exc()))
                continue
            klass = _find_subclass(self._base, module)
            if klass is None:
                failures.append((module_name, None, ""))
                continue
            return module, klass, module_name.startswith("datadog_checks.")
        raise self._load_failure(name, failures)

    def _load_failure(self, name, failures):
        # A candidate that simply does not exist is noise next to one that exists and fails.
        real = [(m, e, tb) for (m, e, tb) in failures if not _is_missing(e, m)]
        if not real:
            folders = ", ".join(self._checksd) if self._checksd else "no checks.d folder configured"
            return RequestError(
                "no check named '{0}': there is no installed integration datadog_checks.{0} and no {0}.py "
                "in checks.d ({1})".format(name, folders))
        module_name, error, tb = real[0]
        if error is None:
            return RequestError(
                "unable to find a subclass of the base check in module '{}': it must define a class that "
                "inherits from AgentCheck (and is not itself subclassed)".format(module_name))
        file, line = _location(error, self._checksd)
        message = "unable to import module '{}': {}: {}".format(module_name, type(error).__name__,
                                                                _exception_text(error))
        return RequestError(message, tb, file, line)

    def _construct(self, klass, name, init_config, instance, check_id):
        instances = (instance,)
        try:
            check = klass(name=name, init_config=init_config, instances=instances)
            deprecated = False
        except Exception:
            new_api = traceback.format_exc()
            try:
                check = klass(name=name, init_config=init_config, instances=instances,
                              agentConfig=self._agent_config_for_old_checks())
            except Exception:
                raise RequestError(
                    "could not invoke '{}' python check constructor. New constructor API returned:\n{}"
                    "Deprecated constructor API returned:\n{}".format(name, new_api, traceback.format_exc()),
                    new_api)
            ddlab_runtime.log(30, "{} | passing `agentConfig` to the constructor is deprecated, please use the "
                                  "`get_config` function from the 'datadog_agent' package ({}).".format(check_id, name),
                              check_id=check_id)
            deprecated = True
        try:
            check.check_id = check_id
        except Exception as error:
            raise RequestError("error could not set 'check_id' attr: {}".format(error), traceback.format_exc())
        return check, deprecated

    def _agent_config_for_old_checks(self):
        config = dict(self._agent_config)
        config.setdefault("hostname", datadog_agent.get_hostname())
        config.setdefault("version", datadog_agent.get_version())
        return config


def _run_check(check, outcome):
    try:
        outcome["report"] = check.run()
    except BaseException as error:
        # `run()` catches Exception itself; this is SystemExit and friends, or a custom `run`.
        outcome["exception"] = {
            "message": "error invoking 'run' method: {}: {}".format(type(error).__name__, _exception_text(error)),
            "traceback": traceback.format_exc(),
        }


def _error_from_report(report):
    # `AgentCheck.run()` answers "" on success and `[{"message": ..., "traceback": ...}]` on failure.
    if report is None or not isinstance(report, (str, bytes)):
        return {"message": "error invoking 'run' method: it returned {} instead of a string".format(
            type(report).__name__), "traceback": ""}
    report = _text(report)
    if not report:
        return None
    try:
        items = json.loads(report)
    except ValueError:
        return {"message": report, "traceback": ""}
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
        return {"message": report, "traceback": ""}
    message = "\n".join(_text(i.get("message", "")) for i in items)
    return {"message": message, "traceback": _text(items[0].get("traceback", ""))}


def _output(check_id, warnings, error):
    buffer = ddlab_runtime.take(check_id)
    return {
        "metrics": buffer.metrics,
        "service_checks": buffer.service_checks,
        "events": buffer.events,
        "warnings": warnings,
        "metadata": buffer.metadata,
        "logs": buffer.logs,
        "error": error,
    }


def _find_subclass(base, module):
    # rtloader's `_findSubclassOf`: `dir()` order (sorted by name), skipping the base itself and any
    # class that has subclasses, so a check module importing helper base classes still works.
    for symbol in dir(module):
        try:
            klass = getattr(module, symbol)
        except Exception:
            continue
        if not isinstance(klass, type) or klass is base:
            continue
        try:
            if not issubclass(klass, base) or klass.__subclasses__():
                continue
        except TypeError:
            continue
        return klass
    return None


def _is_missing(error, module_name):
    # True when `error` says that `module_name` itself (or a parent package) does not exist, as opposed
    # to the module existing and failing to import something else.
    if not isinstance(error, ModuleNotFoundError) or not error.name:
        return False
    return module_name == error.name or module_name.startswith(error.name + ".")


def _location(error, checksd):
    if isinstance(error, SyntaxError) and error.filename:
        return error.filename, error.lineno
    frames = traceback.extract_tb(error.__traceback__)
    for frame in reversed(frames):
        if any(frame.filename.startswith(folder + os.sep) for folder in checksd):
            return frame.filename, frame.lineno
    for frame in reversed(frames):
        if "importlib" not in frame.filename:
            return frame.filename, frame.lineno
    return None, None


def _exception_text(error):
    text = str(error)
    return text if text else repr(error)


def _text(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _jsonable(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def _claim_stdio():
    # Private, non-inheritable copies of the pipes for the protocol; fds 0 and 1 then point at
    # /dev/null and stderr for whatever the checks (or the programs they start) read and write.
    protocol_in = os.fdopen(os.dup(0), "rb")
    protocol_out = os.fdopen(os.dup(1), "wb")
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    sys.stdin = open(os.devnull, "r")
    sys.stdout = ddlab_runtime.CapturedStdout()
    ddlab_runtime.set_host_stderr(sys.stderr)
    return protocol_in, protocol_out


def main():
    # Ctrl-C in a terminal reaches the whole process group; the agent decides when checks stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    protocol_in, protocol_out = _claim_stdio()
    Host(protocol_out).serve(protocol_in)
    try:
        sys.stderr.flush()
    finally:
        os._exit(0)


if __name__ == "__main__":
    main()
