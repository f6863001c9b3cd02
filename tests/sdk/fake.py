"""Scripts the fake providers the SDK tests run against (crates/fake-providers' control
endpoints) and checks what they were sent. Standard library only."""

import json
import urllib.request


class Fake:
    def __init__(self, base_url):
        self.base_url = base_url.rstrip("/")

    def push(self, *behaviours):
        """Queues what the next model requests get: {"reply": "..."}, {"chunks": [...]},
        {"tool_call": {"name": ..., "arguments": {...}}}, {"status": 503}, ..."""
        req = urllib.request.Request(
            self.base_url + "/__fake/push",
            data=json.dumps(list(behaviours)).encode(),
            headers={"content-type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(req) as r:
            assert json.load(r)["queued"] == len(behaviours)

    def last(self):
        """The last model request the fake received: method, path, headers, body."""
        with urllib.request.urlopen(self.base_url + "/__fake/last") as r:
            return json.load(r)


class Checks:
    """Counts passed checks and prints the total at the end."""

    def __init__(self):
        self.passed = 0

    def __call__(self, name):
        def run(f):
            f()
            self.passed += 1
            print(f"ok  {name}")
            return f

        return run

    def done(self):
        print(f"{self.passed} checks passed")
