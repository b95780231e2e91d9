"""The lab's relay to a real Datadog intake, for `cargo xtask up --datadog`.

ddlab-agent speaks plain HTTP only; this relay listens on loopback and sends every request it receives,
unchanged (method, path, query, headers such as DD-API-KEY, compressed body), to the intake over HTTPS,
then answers with the intake's status, headers and body. It logs one line per request: method, path,
status and sizes, never a header (the API key travels in one).

Usage: intake_relay.py LISTEN_PORT UPSTREAM_URL
    UPSTREAM_URL is https://app.<DD_SITE> for Datadog; any http(s) URL works (the tests use the lab's own
    backend).
"""

import http.server
import sys
import urllib.error
import urllib.parse
import urllib.request

# Hop-by-hop headers (RFC 9110 7.6.1) and the ones the client library sets itself.
DROPPED = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade",
           "host", "content-length"}


class Relay(http.server.BaseHTTPRequestHandler):
    upstream = ""
    protocol_version = "HTTP/1.1"

    def relay(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {name: value for name, value in self.headers.items() if name.lower() not in DROPPED}
        request = urllib.request.Request(self.upstream + self.path, data=body, headers=headers,
                                         method=self.command)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                self.answer(response.status, response.headers.items(), response.read())
        except urllib.error.HTTPError as error:
            self.answer(error.code, error.headers.items(), error.read())
        except (urllib.error.URLError, OSError) as error:
            message = ('{"errors": ["the relay cannot reach %s: %s"]}' % (self.upstream, error)).encode()
            self.answer(502, [("Content-Type", "application/json")], message)
        sys.stdout.write("relay: %s %s -> %s (%d bytes in)\n"
                         % (self.command, urllib.parse.urlsplit(self.path).path, self.last_status, length))
        sys.stdout.flush()

    def answer(self, status, headers, body):
        self.last_status = status
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in DROPPED:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = relay

    def log_message(self, format, *args):
        # The default access log is replaced by the one line per request above.
        pass


def main():
    port, upstream = int(sys.argv[1]), sys.argv[2].rstrip("/")
    Relay.upstream = upstream
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Relay)
    sys.stdout.write("relay: listening on 127.0.0.1:%d, sending to %s\n" % (port, upstream))
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
