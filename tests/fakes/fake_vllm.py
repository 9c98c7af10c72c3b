"""A stand-in for the ``vllm`` command in tests of ``ethoagent serve``: ``fake_vllm.py serve
MODEL --port P --served-model-name N ...`` answers ``GET /health`` and ``GET /v1/models``
after a short delay, starts one child process (like vLLM's engine workers) and writes its
argument list and both PIDs to ``$FAKE_VLLM_RECORD``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main(argv: list[str]) -> None:
    port = int(argv[argv.index("--port") + 1])
    name = argv[argv.index("--served-model-name") + 1]
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    record = os.environ.get("FAKE_VLLM_RECORD")
    if record:
        with open(f"{record}.{port}.json", "w") as fh:  # noqa: PTH123
            json.dump({"argv": argv, "pid": os.getpid(), "worker": worker.pid}, fh)
    time.sleep(0.5)  # "loading the model"

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            if self.path == "/health":
                body = b""
            elif self.path == "/v1/models":
                body = json.dumps({"object": "list", "data": [{"id": name}]}).encode()
            else:
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
