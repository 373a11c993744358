"""The sample web app's server: the files of this folder, and /api/greeting.

Files are read from disk on every request, so a saved edit is served at once.
/api/greeting asks hello-api (GREETING_URL) and answers what it said.
Run it as `python3 server.py PORT`; the chart runs the same command.
"""

import http.server
import json
import os
import sys
import urllib.request

PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
GREETING_URL = os.environ.get("GREETING_URL", "http://hello-api:8080/")


class Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/api/greeting":
            self.greeting()
        else:
            super().do_GET()

    def end_headers(self):
        # Always ask again: an edit must show on the next reload.
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def greeting(self):
        try:
            with urllib.request.urlopen(GREETING_URL, timeout=2) as answer:
                status, body = 200, answer.read()
        except Exception as error:  # any failure is the page's to show
            status = 502
            body = json.dumps(
                {
                    "error": f"No greeting: hello-api does not answer at {GREETING_URL} ({error}). "
                    "Install it with `berth deploy hello-api` (in a cluster; "
                    "Berth's embedded mode runs no pods)."
                }
            ).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    http.server.ThreadingHTTPServer(("", PORT), Handler).serve_forever()
