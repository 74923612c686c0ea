#!/usr/bin/env python3
"""Two `kiss sync --every` processes of one customer into one PostgreSQL mirror, for an hour.

Starts `kiss-sandbox` (release build) with both rate windows set low (--rate-limit), makes a
new schema in the PostgreSQL database given, and runs two
`kiss sync --every stock=10m,products=60m,prices=60m` processes into it, as two machines
would (each with its own state directory, so that they share nothing but the mirror: the
quota through `_kiss_quota`, the schedule through `_kiss_schedule`, the endpoints' locks).
After --minutes (60 by default: the schedule's hour) it stops both with SIGTERM and
judges by the sandbox's counters: no request refused with a 429, and every endpoint asked
for exactly as often as its schedule has runs in that time (stock every 10 minutes, plus up
to 5 % of jitter each; products and prices once), each run recorded once in `_kiss_loads`.

With --time-scale N the hour is simulated: the sandbox's clock (its rate windows, tokens and
catalogue) runs N times as fast (`kiss-sandbox --time-scale N`), and so does the syncers'
(`KISS_TIME_SCALE=N`, both from one `KISS_TIME_EPOCH`), so 60 minutes take 60/N real ones.

Run from the workspace root (needs psql):
  cargo build --release -p kiss-cli -p kiss-sandbox
  python3 benches/two_syncers.py --postgres postgres://postgres@127.0.0.1:5432/test \
      [--minutes 60] [--time-scale 60]
"""
import argparse
import datetime
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_vs_curl import CUSTOMER, KEY, RELEASE  # noqa: E402
from sync_vs_export import fresh_schema, psql, schema_url  # noqa: E402


def start_sandbox(products, rate_limit, time_scale):
    proc = subprocess.Popen(
        [os.path.join(RELEASE, "kiss-sandbox"), "--addr", "127.0.0.1:0", "--products",
         str(products), "--rate-limit", rate_limit, "--time-scale", str(time_scale)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    if "listening on" not in line:
        sys.exit(f"the sandbox did not start: {line!r}")
    return proc, line.split("listening on", 1)[1].strip()


def control(base, path):
    with urllib.request.urlopen(f"{base}/_sandbox/{path}") as response:
        return json.load(response)


def runs_due(minutes, every, jitter=0.05):
    """How many runs a schedule starting at 0 has in [0, minutes): the fewest and the most,
    given up to `jitter` of each interval added at random."""
    fewest, most, t_late, t_early = 0, 0, 0.0, 0.0
    while t_early < minutes:
        most += 1
        t_early += every
    while t_late < minutes:
        fewest += 1
        t_late += every * (1 + jitter)
    return fewest, most


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", metavar="URL", required=True)
    parser.add_argument("--minutes", type=float, default=60)
    parser.add_argument("--rate-limit", default="8,30", help="PER_MIN,PER_HOUR for both sides")
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--time-scale", type=int, default=1,
                        help="run both clocks this many times as fast (a simulated hour)")
    args = parser.parse_args()
    epoch = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
    sandbox, base = start_sandbox(args.products, args.rate_limit, args.time_scale)
    schema = "kiss_two_syncers"
    fresh_schema(args.postgres, schema)
    url = schema_url(args.postgres, schema)
    kiss = os.path.join(RELEASE, "kiss")
    syncers = []
    try:
        for name in ["a", "b"]:
            state = tempfile.mkdtemp(prefix=f"kiss-syncer-{name}-")
            env = dict(os.environ, KISS_BASE_URL=base, KISS_CUSTOMER_CODE=CUSTOMER,
                       KISS_API_KEY=KEY, KISS_SANDBOX="0", KISS_QUOTA=args.rate_limit,
                       XDG_STATE_HOME=state)
            if args.time_scale > 1:
                env.update(KISS_TIME_SCALE=str(args.time_scale), KISS_TIME_EPOCH=epoch)
            log = open(os.path.join(state, "stderr"), "w+")
            syncers.append((subprocess.Popen(
                [kiss, "sync", "--db", url, "--every", "stock=10m,products=60m,prices=60m"],
                env=env, stdout=subprocess.DEVNULL, stderr=log), log))
        started = time.monotonic()
        deadline = started + args.minutes * 60 / args.time_scale
        while time.monotonic() < deadline:
            for proc, log in syncers:
                if proc.poll() is not None:
                    log.seek(0)
                    sys.exit(f"a syncer stopped early ({proc.returncode}): {log.read()}")
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
        for proc, _ in syncers:
            proc.send_signal(signal.SIGTERM)
        codes = [proc.wait(timeout=120) for proc, _ in syncers]
        elapsed = (time.monotonic() - started) / 60
        counters = control(base, "counters")
        refused = control(base, "rate-limits")["refused"]
        loads = psql(args.postgres, f"SELECT endpoint, status FROM {schema}._kiss_loads").split()
        clock = (f"{elapsed * args.time_scale:.1f} simulated minutes in {elapsed:.2f} real ones"
                 if args.time_scale > 1 else f"{elapsed:.1f} minutes")
        print(f"\ntwo syncers, {clock}, rate limit {args.rate_limit} "
              f"(per minute, per hour) on both sides:")
        print("| endpoint | requests for records | runs recorded | runs due | |")
        print("|---|---|---|---|---|")
        verdicts = []
        for endpoint, every in [("stock", 10), ("products", 60), ("prices", 60)]:
            asked = counters.get(f"/{endpoint}", 0)
            recorded = sum(1 for row in loads if row.startswith(f"{endpoint}|ok"))
            fewest, most = runs_due(args.minutes, every)
            ok = asked == recorded and fewest <= asked <= most
            verdicts.append(ok)
            due = f"{fewest}" if fewest == most else f"{fewest}–{most}"
            print(f"| {endpoint} | {asked} | {recorded} | {due} | {'ok' if ok else 'WRONG'} |")
        print(f"429s: {refused}; every request: {sum(counters.values())}; exit codes: {codes}")
        failed = [row for row in loads if not row.endswith("|ok")]
        if failed:
            print("runs that did not end ok:", failed)
        if refused or not all(verdicts) or failed or any(codes):
            for proc, log in syncers:
                log.seek(0)
                print(log.read()[-4000:])
            sys.exit(1)
    finally:
        for proc, _ in syncers:
            if proc.poll() is None:
                proc.kill()
        sandbox.terminate()
        sandbox.wait()
        psql(args.postgres, f"DROP SCHEMA IF EXISTS {schema} CASCADE")


if __name__ == "__main__":
    main()
