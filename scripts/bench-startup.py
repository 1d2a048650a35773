#!/usr/bin/env python3
"""Time a server from process start to its first HTTP response, then read
its resident memory while it idles, and stop it.

    scripts/bench-startup.py URL [--idle SECONDS] -- COMMAND [ARG ...]

URL is polled every half millisecond over a raw socket, so the figure is
not bounded by a client's start-up. Prints one line of JSON:
{"start_ms": ..., "idle_rss_mib": ...}. Exits 1 when the server exits or
does not respond within 60 s.
"""

import json
import socket
import subprocess
import sys
import time
import urllib.parse


def responds(host, port, path):
    try:
        with socket.create_connection((host, port), timeout=1) as connection:
            request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n"
            connection.sendall(request.encode())
            return connection.recv(16).startswith(b"HTTP/1.")
    except OSError:
        return False


def resident_mib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return None


def main():
    arguments = sys.argv[1:]
    if "--" not in arguments or arguments.index("--") < 1:
        sys.exit(__doc__)
    split = arguments.index("--")
    options, command = arguments[:split], arguments[split + 1 :]
    url = urllib.parse.urlsplit(options[0])
    idle = float(options[options.index("--idle") + 1]) if "--idle" in options else 1.0

    started = time.perf_counter()
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not responds(url.hostname, url.port, url.path or "/"):
            if server.poll() is not None or time.perf_counter() - started > 60:
                sys.exit(f"{command[0]} did not respond on {options[0]} within 60 s")
            time.sleep(0.0005)
        start_ms = (time.perf_counter() - started) * 1000
        time.sleep(idle)
        print(json.dumps({"start_ms": round(start_ms, 1), "idle_rss_mib": round(resident_mib(server.pid), 1)}))
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    main()
