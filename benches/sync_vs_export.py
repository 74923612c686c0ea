#!/usr/bin/env python3
"""`kiss sync` into SQLite (and PostgreSQL) side by side with `kiss export products --format ndjson`.

Starts `kiss-sandbox --products N` (release build), then alternates, per run: the export of
products to NDJSON, a first sync of products + stock + prices into a new SQLite file, and a
re-sync of the same file with nothing changed; with --postgres URL, also a first sync into a
new, empty schema of that database and a re-sync of it. Reports medians (fastest), each as a
ratio of the export's median taken in the same run, and peak RSS; and checks that the
re-syncs wrote nothing but their load records. With --postgres, each run also times the
server alone doing the first sync's loading: one `psql` session that, in one transaction,
makes the mirror's tables afresh, copies their rows back in from binary files
(`COPY … FREEZE`), adds the same constant columns and builds the same indexes (no kiss, no
sandbox, no network but the client's file): a floor under any first sync into this layout
on this machine. Needs `psql` for --postgres. A URL without
`sslmode` syncs with TLS when the server offers it (libpq's default, `prefer`); add
`?sslmode=disable` to measure without.

Run from the workspace root:
  cargo build --release -p kiss-cli -p kiss-sandbox
  python3 benches/sync_vs_export.py [--runs 5] [--size 50000] [--postgres postgres://postgres@127.0.0.1:5432/test]
"""
import argparse
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_vs_curl import CUSTOMER, KEY, RELEASE, measured, peak_rss, start_sandbox  # noqa: E402


def rows(db):
    """Rows per table, the load records aside."""
    connection = sqlite3.connect(db)
    tables = [r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    counts = {t: connection.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]
              for t in tables if t != "_kiss_loads"}
    connection.close()
    return counts


def psql(url, sql):
    """Runs SQL through psql; its output, unaligned."""
    return subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", url, "-c", sql],
                          check=True, capture_output=True, text=True).stdout


def schema_url(url, schema):
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options=-c%20search_path%3D{schema}"


def fresh_schema(url, schema):
    psql(url, f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}")


def pg_rows(url, schema):
    """Rows per table of the schema, the load records aside."""
    tables = psql(url, f"SELECT tablename FROM pg_tables WHERE schemaname = '{schema}'").split()
    return {t: psql(url, f'SELECT count(*) FROM {schema}."{t}"').strip()
            for t in tables if t != "_kiss_loads"}


def floor_script(url, schema, floor, files):
    """Writes the mirror in `schema` out to binary files in `files`, and returns the psql
    script that loads it back into the empty schema `floor` as a first sync lays it out:
    each table made with the columns it is copied with, filled by `COPY … FREEZE`, then the
    columns kiss adds with a constant value (PostgreSQL's fast defaults: stored once, not
    per row), then its indexes."""
    tables = psql(url, f"SELECT c.oid, c.relname FROM pg_class c JOIN pg_namespace n ON "
                       f"n.oid = c.relnamespace WHERE n.nspname = '{schema}' AND c.relkind = 'r' "
                       f"ORDER BY c.relname").split()
    script = ["\\set ON_ERROR_STOP 1", "BEGIN;"]
    indexes = []
    for entry in tables:
        oid, table = entry.split("|")
        columns = [line.split("|", 3) for line in psql(url, f"""
            SELECT quote_ident(a.attname), a.atthasmissing,
                   format_type(a.atttypid, a.atttypmod)
                   || CASE WHEN a.attcollation <> t.typcollation
                           THEN ' COLLATE ' || quote_ident(co.collname) ELSE '' END
                   || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END,
                   coalesce(quote_literal((a.attmissingval::text::text[])[1]), 'NULL')
            FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
            LEFT JOIN pg_collation co ON co.oid = a.attcollation
            WHERE a.attrelid = {oid} AND a.attnum > 0 AND NOT a.attisdropped
            ORDER BY a.attnum""").splitlines()]
        copied = [c for c in columns if c[1] == "f"]
        added = [c for c in columns if c[1] == "t"]
        name = f'{floor}."{table}"'
        data = os.path.join(files, f"{oid}.bin")
        names = ", ".join(c[0] for c in copied)
        psql(url, f"\\copy (SELECT {names} FROM {schema}.\"{table}\") TO '{data}' "
                  f"WITH (FORMAT binary)")
        script.append(f"CREATE TABLE {name} ({', '.join(f'{c[0]} {c[2]}' for c in copied)});")
        script.append(f"\\copy {name} ({names}) FROM '{data}' WITH (FORMAT binary, FREEZE)")
        if added:
            script.append(f"ALTER TABLE {name} " + ", ".join(
                f"ADD COLUMN {c[0]} {c[2]} DEFAULT {c[3]}" for c in added) + ";")
        for definition in psql(url, f"SELECT indexdef FROM pg_indexes WHERE schemaname = "
                                    f"'{schema}' AND tablename = '{table}'").splitlines():
            indexes.append(definition.replace(f" ON {schema}.", f" ON {floor}.") + ";")
    # Each table's indexes after all the tables' rows, as a first sync builds them.
    script += indexes + ["COMMIT;"]
    return "\n".join(script) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--size", type=int, default=50000)
    parser.add_argument("--postgres", metavar="URL",
                        help="also sync into new schemas of this PostgreSQL database")
    args = parser.parse_args()
    kiss = os.path.join(RELEASE, "kiss")
    sandbox, base = start_sandbox(args.size)
    out = None
    try:
        env = dict(os.environ, KISS_BASE_URL=base, KISS_CUSTOMER_CODE=CUSTOMER, KISS_API_KEY=KEY,
                   KISS_SANDBOX="0")
        out = tempfile.mkdtemp(prefix="kiss-sync-bench-")
        export = [kiss, "export", "products", "--format", "ndjson", "-q", "--no-shared-quota",
                  "--out", os.path.join(out, "products.ndjson")]
        runs = {"export products (ndjson)": [], "first sync (3 endpoints)": [],
                "re-sync, nothing changed": []}
        if args.postgres:
            runs["PostgreSQL: first sync"] = []
            runs["PostgreSQL: re-sync, nothing changed"] = []
            runs["PostgreSQL: the server alone, loading the same rows"] = []
        written = []
        for n in range(args.runs):
            db = os.path.join(out, f"mirror-{n}.db")
            sync = [kiss, "sync", "--db", db, "-q", "--no-shared-quota"]
            runs["export products (ndjson)"].append(measured(export, env))
            runs["first sync (3 endpoints)"].append(measured(sync, env))
            before = rows(db)
            runs["re-sync, nothing changed"].append(measured(sync, env))
            written.append(before != rows(db))
            if args.postgres:
                schema = f"kiss_bench_{n}"
                fresh_schema(args.postgres, schema)
                pg = [kiss, "sync", "--db", schema_url(args.postgres, schema), "-q",
                      "--no-shared-quota"]
                runs["PostgreSQL: first sync"].append(measured(pg, env))
                before = pg_rows(args.postgres, schema)
                runs["PostgreSQL: re-sync, nothing changed"].append(measured(pg, env))
                written.append(before != pg_rows(args.postgres, schema))
                floor = f"kiss_bench_floor_{n}"
                fresh_schema(args.postgres, floor)
                # The mirror's rows as files, some 80 MB a run: gone once loaded.
                files = tempfile.mkdtemp(prefix="floor-", dir=out)
                script = os.path.join(files, "floor.sql")
                with open(script, "w") as f:
                    f.write(floor_script(args.postgres, schema, floor, files))
                runs["PostgreSQL: the server alone, loading the same rows"].append(measured(
                    ["psql", "-X", "-q", "-f", script, args.postgres], env))
                shutil.rmtree(files)
                psql(args.postgres, f"DROP SCHEMA {schema} CASCADE; DROP SCHEMA {floor} CASCADE")
        base_wall = statistics.median(r[0] for r in runs["export products (ndjson)"])
        print(f"\n{args.size} products, {args.runs} alternating runs, medians (fastest):")
        print("| run | wall | wall / export | CPU | peak RSS |")
        print("|---|---|---|---|---|")
        db = os.path.join(out, "rss.db")
        if args.postgres:
            fresh_schema(args.postgres, "kiss_bench_rss")
        pg_rss = [kiss, "sync", "--db", schema_url(args.postgres or "", "kiss_bench_rss"), "-q",
                  "--no-shared-quota"]
        rss_argv = {
            "PostgreSQL: first sync": pg_rss,
            "PostgreSQL: re-sync, nothing changed": pg_rss,
            "PostgreSQL: the server alone, loading the same rows": None,
            "export products (ndjson)": export,
            "first sync (3 endpoints)": [kiss, "sync", "--db", db, "-q", "--no-shared-quota"],
            "re-sync, nothing changed": [kiss, "sync", "--db", db, "-q", "--no-shared-quota"],
        }
        for name, measurements in runs.items():
            walls = [r[0] for r in measurements]
            cpus = [r[1] for r in measurements]
            wall = statistics.median(walls)
            argv = rss_argv[name]
            # The server alone: its CPU is the server's, not psql's (which only reads files).
            rss = f"{peak_rss(argv, env):.1f} MB" if argv else "–"
            cpu = f"{statistics.median(cpus):.3f} s" if argv else "–"
            print(f"| {name} | {wall:.3f} s ({min(walls):.3f}) | {wall / base_wall:.2f}× | "
                  f"{cpu} | {rss} |")
        print("re-sync wrote rows besides its load records:", any(written))
        if args.postgres:
            psql(args.postgres, "DROP SCHEMA kiss_bench_rss CASCADE")
    finally:
        sandbox.terminate()
        sandbox.wait()
        if out:
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
