"""Serves the exercise's Flask app on a free loopback port, for the ddtrace end-to-end test.

Run under ddtrace-run with the app's path as the argument: the app module is loaded as it is (its
`__main__` block, which binds port 5050, does not run), one extra route that raises is added so error
counting can be checked (the exercise app has none), and the app is served on 127.0.0.1 with a port the
system picks. The line `DDLAB_APP_PORT=<port>` on stdout says where. The server stops when stdin closes,
and the process then exits normally, so ddtrace flushes every trace and stats bucket it holds.
"""
import importlib.util
import sys
import threading

from werkzeug.serving import make_server

spec = importlib.util.spec_from_file_location("app", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
app = module.app


def raise_error():
    raise RuntimeError("ddlab: a route that fails, to check that error spans are counted")


app.add_url_rule("/ddlab/raise", "ddlab_raise", raise_error)

server = make_server("127.0.0.1", 0, app, threaded=True)
thread = threading.Thread(target=server.serve_forever, daemon=True)
thread.start()
print(f"DDLAB_APP_PORT={server.server_port}", flush=True)
sys.stdin.read()
server.shutdown()
thread.join()
