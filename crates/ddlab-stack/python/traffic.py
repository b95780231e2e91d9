"""The lab's traffic generator: requests to the exercise app's routes, and small writes to the sample
schema, so APM and MySQL metrics move. Runs until stopped; every failure is logged, never fatal.

Usage: traffic.py APP_URL MYSQL_CLIENT MYSQL_SOCKET [INTERVAL_SECONDS]
"""

import subprocess
import sys
import time
import urllib.error
import urllib.request

ROUTES = ["/", "/api/apm", "/api/trace"]


def main():
    app_url, client, socket = sys.argv[1], sys.argv[2], sys.argv[3]
    interval = float(sys.argv[4]) if len(sys.argv) > 4 else 2.0
    sent = 0
    while True:
        for route in ROUTES:
            try:
                with urllib.request.urlopen(app_url.rstrip("/") + route, timeout=5) as response:
                    response.read()
                sent += 1
            except (urllib.error.URLError, OSError) as error:
                print("traffic: %s%s: %s" % (app_url, route, error), flush=True)
        sql = ("INSERT INTO lab.visits (route) VALUES ('/'), ('/api/apm'), ('/api/trace');"
               "SELECT route, COUNT(*) FROM lab.visits GROUP BY route;"
               "DELETE FROM lab.visits WHERE at < NOW() - INTERVAL 1 HOUR;")
        result = subprocess.run([client, "--no-defaults", "--socket=" + socket, "--user=lab", "--password=lab",
                                 "--batch", "-e", sql], capture_output=True, text=True)
        if result.returncode != 0:
            print("traffic: mysql: %s" % result.stderr.strip(), flush=True)
        if sent and sent % 300 == 0:
            print("traffic: %d requests sent" % sent, flush=True)
        time.sleep(interval)


if __name__ == "__main__":
    main()
