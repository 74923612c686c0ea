#!/usr/bin/env python3
"""`kiss export` side by side with curl, against one release sandbox on loopback.

For each catalogue size the script starts `kiss-sandbox --products N` (release build), then
alternates runs: curl fetching /products into a file, and `kiss export products` in each
format into a file (plus `--format ndjson` to a pipe, for the time to the first byte). Every
run's wall time, CPU (user + system, from the kernel's accounting of the child) and peak RSS
are recorded; the table gives medians per tool and format, and each kiss median as a ratio
of curl's median taken in the same run. The typed collect (`Client::products()` into a
`Vec<Product>`) is run through the `collect_products` example of the `kiss` crate.

Time to the first byte: a small proxy in this script sits between kiss and the sandbox and
notes when the /products response headers pass through; the clock stops at the first byte
kiss writes to its stdout pipe.

Run from the workspace root (the binaries are built first, in two commands: built together,
the `kiss` library's examples and the `kiss` binary can trip over each other's output name):
  cargo build --release -p kiss-cli -p kiss-sandbox
  cargo build --release -p kiss --example collect_products
  python3 benches/export_vs_curl.py [--runs 5] [--sizes 50000,200000]
"""
import argparse
import json
import os
import re
import resource
import select
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release")
CUSTOMER, KEY = "ACME01", "sandbox-key-ACME01-not-a-secret"


def start_sandbox(products):
    proc = subprocess.Popen(
        [os.path.join(RELEASE, "kiss-sandbox"), "--products", str(products),
         "--rate-limit", "100000,1000000"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    match = re.search(r"(http://\S+)", line)
    if not match:
        proc.kill()
        sys.exit(f"the sandbox did not start: {line!r}")
    return proc, match.group(1).rstrip("/")


def token(base):
    body = f"grant_type=client_credentials&client_id={CUSTOMER}&client_secret={KEY}".encode()
    with urllib.request.urlopen(base + "/auth/token", data=body) as answer:
        return json.load(answer)["access_token"]


def measured(argv, env=None, stdout=subprocess.DEVNULL):
    """Runs argv; returns (wall seconds, CPU seconds) of that child alone."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=stdout, stderr=subprocess.PIPE)
    _, err = proc.communicate()
    wall = time.perf_counter() - start
    # wait4 gives this child's own rusage, unmixed with earlier children.
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"{argv[0]} failed ({proc.returncode}): {err.decode(errors='replace')}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def peak_rss(argv, env):
    """ru_maxrss of RUSAGE_CHILDREN is the largest of all children so far, so peak RSS is
    taken from /usr/bin/time's report of the one run instead."""
    proc = subprocess.run(["/usr/bin/time", "-f", "%M"] + argv, env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        sys.exit(f"{argv} failed: {proc.stderr}")
    return int(proc.stderr.strip().splitlines()[-1]) / 1024


class HeaderProxy:
    """Forwards one port to the sandbox and notes when a /products answer's headers pass."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        self.headers_at = None
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            client, _ = self.listener.accept()
            threading.Thread(target=self.pump, args=(client,), daemon=True).start()

    def pump(self, client):
        upstream = socket.create_connection(("127.0.0.1", self.target_port))
        products_request = False
        seen = b""
        try:
            while True:
                ready, _, _ = select.select([client, upstream], [], [])
                for sock in ready:
                    data = sock.recv(1 << 16)
                    if not data:
                        return
                    if sock is client:
                        if b"GET /products" in data:
                            products_request, seen = True, b""
                        upstream.sendall(data)
                    else:
                        if products_request and self.headers_at is None:
                            seen += data
                            if b"\r\n\r\n" in seen:
                                self.headers_at = time.perf_counter()
                        client.sendall(data)
        finally:
            client.close()
            upstream.close()


def first_byte_delay(base_port, env):
    proxy = HeaderProxy(base_port)
    env = dict(env, KISS_BASE_URL=f"http://127.0.0.1:{proxy.port}")
    proc = subprocess.Popen([os.path.join(RELEASE, "kiss"), "export", "products", "--format",
                             "ndjson", "-q", "--no-shared-quota"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    first = proc.stdout.read(1)
    at = time.perf_counter()
    while proc.stdout.read(1 << 20):
        pass
    proc.wait()
    if not first or proxy.headers_at is None:
        sys.exit("no first byte, or the headers were never seen")
    return at - proxy.headers_at


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sizes", default="50000,200000")
    parser.add_argument("--formats", default="json,ndjson,csv")
    parser.add_argument("--no-typed", action="store_true")
    args = parser.parse_args()
    kiss = os.path.join(RELEASE, "kiss")
    typed = os.path.join(RELEASE, "examples", "collect_products")
    formats = args.formats.split(",")
    for size in [int(s) for s in args.sizes.split(",")]:
        sandbox, base = start_sandbox(size)
        try:
            port = int(base.rsplit(":", 1)[1].split("/")[0])
            env = dict(os.environ, KISS_BASE_URL=base, KISS_CUSTOMER_CODE=CUSTOMER,
                       KISS_API_KEY=KEY, KISS_SANDBOX="0")
            bearer = token(base)
            out = tempfile.mkdtemp(prefix="kiss-bench-")
            body = os.path.join(out, "curl.json")
            curl = ["curl", "-sS", "-f", "-o", body, "-H", f"Authorization: Bearer {bearer}",
                    base + "/products"]
            runs = {"curl": []}
            tools = [(f, [kiss, "export", "products", "--format", f, "-q", "--no-shared-quota",
                          "--out", os.path.join(out, "kiss." + f)]) for f in formats]
            if not args.no_typed and os.path.exists(typed):
                tools.append(("typed collect", [typed]))
            for name, _ in tools:
                runs[name] = []
            for _ in range(args.runs):
                runs["curl"].append(measured(curl))
                for name, argv in tools:
                    runs[name].append(measured(argv, env))
            mb = os.path.getsize(body) / 1e6
            curl_wall = statistics.median(r[0] for r in runs["curl"])
            print(f"\n{size} products, {mb:.1f} MB, {args.runs} alternating runs, medians "
                  f"(fastest):")
            print("| tool | wall | wall / curl | CPU | CPU per 71.5 MB | peak RSS |")
            print("|---|---|---|---|---|---|")
            for name, measurements in runs.items():
                walls = [r[0] for r in measurements]
                cpus = [r[1] for r in measurements]
                wall, cpu = statistics.median(walls), statistics.median(cpus)
                argv = curl if name == "curl" else dict(tools)[name]
                rss = peak_rss(argv, env)
                print(f"| {name} | {wall:.3f} s ({min(walls):.3f}) | {wall / curl_wall:.2f}× | "
                      f"{cpu:.3f} s ({min(cpus):.3f}) | {cpu * 71.5 / mb:.3f} s | {rss:.1f} MB |")
            delays = [first_byte_delay(port, env) for _ in range(args.runs)]
            print(f"time to first byte on stdout after the /products headers: median "
                  f"{statistics.median(delays) * 1000:.1f} ms, worst {max(delays) * 1000:.1f} ms")
        finally:
            sandbox.terminate()
            sandbox.wait()


if __name__ == "__main__":
    main()
