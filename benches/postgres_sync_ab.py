#!/usr/bin/env python3
"""Two (or more) `kiss` binaries' PostgreSQL (and SQLite) syncs side by side, with where the CPU time went.

Starts `kiss-sandbox --products N` (release build), then alternates, per run: for each
variant a first sync of products + stock + prices into a new, empty schema and a re-sync of
it with nothing changed, then one `kiss export products --format ndjson`. Reports medians
(fastest) of wall time, each as a ratio of the export's median, and the CPU time of kiss, of
the PostgreSQL server (the backends that exited meanwhile, read off the postmaster's
children's times: run it with no other clients) and of the sandbox. On a machine of two
cores a first sync keeps both busy, so its CPU total says more than its wall time, which
swings by a fifth between identical runs.

With --sqlite, each variant also makes a first sync into a new SQLite file and a re-sync of
it, measured the same way (the server's CPU is then nobody's). The table gives, beside each
median, the worst run's ratio to the export of the same round: the bars on re-syncs hold in
every run, not only the median.

With --floor, each run also times the server alone loading the first variant's mirror
afresh (see `sync_vs_export.py`): the CPU time PostgreSQL needs for this layout and data
with no kiss in the way, under which no first sync's server CPU can go.

A variant is LABEL=PATH or LABEL=PATH:URL-SUFFIX, the suffix appended to the database URL
after its `options` (`%20-c%20name%3Dvalue` for a setting, `&sslmode=disable`). Build the
binary to compare against first, for example with `git stash`, copying it aside.

Run from the workspace root:
  cargo build --release -p kiss-cli -p kiss-sandbox
  python3 benches/postgres_sync_ab.py --runs 5 before=/tmp/kiss-before after=target/release/kiss
"""
import argparse
import collections
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_vs_curl import CUSTOMER, KEY, RELEASE, start_sandbox  # noqa: E402
from sync_vs_export import floor_script  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid, children):
    """A process's own CPU time, or that of its children that have exited."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    user, system, child_user, child_system = map(int, fields[11:15])
    return ((child_user + child_system) if children else (user + system)) / TICK


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="+", metavar="LABEL=PATH[:SUFFIX]")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--size", type=int, default=50000)
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432/test")
    parser.add_argument("--postmaster-pid", default="/var/run/postgresql/15-main.pid",
                        help="the server's pid file (Debian's for cluster 15/main)")
    parser.add_argument("--sqlite", action="store_true",
                        help="also sync each variant into a new SQLite file, and re-sync it")
    parser.add_argument("--floor", action="store_true",
                        help="also time the server alone loading the first variant's mirror")
    args = parser.parse_args()
    with open(args.postmaster_pid) as pid_file:
        postmaster = int(pid_file.read().split()[0])
    variants = []
    for spec in args.variants:
        label, _, rest = spec.partition("=")
        path, _, suffix = rest.partition(":")
        variants.append((label, path, suffix))
    sandbox, base = start_sandbox(args.size)
    env = dict(os.environ, KISS_BASE_URL=base, KISS_CUSTOMER_CODE=CUSTOMER, KISS_API_KEY=KEY,
               KISS_SANDBOX="0")

    def psql(sql):
        subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", args.postgres, "-c", sql],
                       check=True, env=dict(env, PGOPTIONS="-c client_min_messages=warning"))

    def measured(argv):
        server, served = cpu_seconds(postmaster, True), cpu_seconds(sandbox.pid, False)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(argv, check=True, env=env, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        time.sleep(0.05)  # the backends' exit, accounted to the postmaster
        kiss = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        return (wall, kiss, cpu_seconds(postmaster, True) - server,
                cpu_seconds(sandbox.pid, False) - served)

    results = collections.defaultdict(list)
    # Per round, the export's wall time: each sync's worst ratio is to its own round's export.
    rounds = collections.defaultdict(list)
    # The export's file and the floor's copies of the mirror (some 80 MB), gone at the end.
    files = tempfile.mkdtemp(prefix="kiss-ab-")
    export = [os.path.join(RELEASE, "kiss"), "export", "products", "--format", "ndjson", "-q",
              "--no-shared-quota", "--out", os.path.join(files, "products.ndjson")]
    try:
        for _ in range(args.runs):
            for label, path, suffix in variants:
                schema = f"kiss_ab_{label}"
                psql(f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}")
                separator = "&" if "?" in args.postgres else "?"
                url = f"{args.postgres}{separator}options=-c%20search_path%3D{schema}{suffix}"
                sync = [path, "sync", "--db", url, "-q", "--no-shared-quota"]
                results[(label, "first sync")].append(measured(sync))
                results[(label, "re-sync")].append(measured(sync))
                if args.sqlite:
                    db = os.path.join(files, f"{label}.db")
                    sync = [path, "sync", "--db", db, "-q", "--no-shared-quota"]
                    results[(label, "SQLite first sync")].append(measured(sync))
                    results[(label, "SQLite re-sync")].append(measured(sync))
                    for leftover in (db, db + ".kiss-lock"):
                        if os.path.exists(leftover):
                            os.remove(leftover)
                if args.floor and label == variants[0][0]:
                    floor = "kiss_ab_floor"
                    psql(f"DROP SCHEMA IF EXISTS {floor} CASCADE; CREATE SCHEMA {floor}")
                    copies = tempfile.mkdtemp(prefix="floor-", dir=files)
                    script = os.path.join(copies, "floor.sql")
                    with open(script, "w") as f:
                        f.write(floor_script(args.postgres, schema, floor, copies))
                    results[("", "the server alone (psql as kiss)")].append(
                        measured(["psql", "-X", "-q", "-f", script, args.postgres]))
                    shutil.rmtree(copies)
                    psql(f"DROP SCHEMA {floor} CASCADE")
                psql(f"DROP SCHEMA {schema} CASCADE")
            exported = measured(export)
            results[("", "export products (ndjson)")].append(exported)
            for key, rows in results.items():
                rounds[key].append(rows[-1][0] / exported[0])
    finally:
        sandbox.terminate()
        sandbox.wait()
        shutil.rmtree(files, ignore_errors=True)
    export_wall = statistics.median(r[0] for r in results[("", "export products (ndjson)")])
    print(f"\n{args.size} products, {args.runs} alternating runs, medians (fastest wall):")
    print("| variant | run | wall | wall / export | worst run / its export | CPU: kiss "
          "| CPU: PostgreSQL | CPU: sandbox | CPU: all |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (label, run), rows in results.items():
        median = [statistics.median(r[i] for r in rows) for i in range(4)]
        worst = max(rounds[(label, run)]) if rounds[(label, run)] else float("nan")
        print(f"| {label} | {run} | {median[0]:.3f} s ({min(r[0] for r in rows):.3f}) | "
              f"{median[0] / export_wall:.2f}× | {worst:.2f}× | {median[1]:.2f} s | "
              f"{median[2]:.2f} s | {median[3]:.2f} s | {sum(median[1:]):.2f} s |")


if __name__ == "__main__":
    main()
