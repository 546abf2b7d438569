#!/usr/bin/env python3
"""Waits until a secondary's tracking DB has at least TARGET copies synced and
verified, polling every INTERVAL seconds over one kept psql connection.

    bench/wait_verified.py CONNINFO TARGET [INTERVAL]
        [--types T1,T2] [--since TIMESTAMP] [--path-like PATTERN]

A benchmark must not slow what it measures: a new psql (a process and a
PostgreSQL backend) per poll, counting every registry row, took a sixth of
this 2-core machine's CPU during the small-files run. So each poll reads the
registry's maintained counts (georep.registry_counts plus the deltas not yet
folded, a few rows), and only when they say the target may be reached is the
exact count (rows synced and verified) taken; the wait ends when that count
reaches TARGET too. Prints nothing; exits 0 when reached.

--types limits both counts to those replicables. --since counts only rows
synced after TIMESTAMP (a resync of rows already verified): the cheap check
is then that the types have no pending or started rows left.
--path-like counts only rows whose local_path is LIKE PATTERN.
"""
import argparse
import subprocess
import time

VERIFIED = 2  # SyncState::kSynced and VerificationState::kSucceeded
NOT_DONE = (0, 1)  # pending, started


def main():
    ap = argparse.ArgumentParser(usage=__doc__)
    ap.add_argument('conninfo')
    ap.add_argument('target', type=int)
    ap.add_argument('interval', type=float, nargs='?', default=0.02)
    ap.add_argument('--types')
    ap.add_argument('--since')
    ap.add_argument('--path-like')
    a = ap.parse_args()
    psql = subprocess.Popen(['psql', a.conninfo, '-XAtq', '-v', 'ON_ERROR_STOP=1'],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    def ask(sql):
        psql.stdin.write(sql + ';\n')
        psql.stdin.flush()
        line = psql.stdout.readline()
        if not line:
            raise SystemExit('wait_verified: psql ended: is the tracking database up?')
        return line.strip()

    def lit(s):
        return "'" + s.replace("'", "''") + "'"

    if a.types:
        names = a.types.split(',')
    else:
        names = [t[:-len('_registry')] for t in ask(
            "SELECT string_agg(tablename, ' ') FROM pg_tables "
            "WHERE schemaname = 'georep' AND tablename LIKE '%\\_registry'").split()]
    counted = 'replicable IN (' + ', '.join(lit(n + (':verification' if not a.since else ''))
                                            for n in names) + ')'
    states = (f'state IN {NOT_DONE}' if a.since else f'state = {VERIFIED}')
    cheap = ("SELECT coalesce(sum(n), 0) FROM ("
             f"SELECT count AS n FROM georep.registry_counts WHERE {counted} AND {states} "
             f"UNION ALL SELECT delta FROM georep.registry_count_deltas "
             f"WHERE {counted} AND {states}) x")
    where = f"state = {VERIFIED} AND verification_state = {VERIFIED}"
    if a.since:
        where += f" AND last_synced_at > {lit(a.since)}"
    if a.path_like:
        where += f" AND local_path LIKE {lit(a.path_like)}"
    exact = "SELECT " + (" + ".join(
        f"(SELECT count(*) FROM georep.{n}_registry WHERE {where})" for n in names) or "0")

    def may_be_reached():
        n = int(ask(cheap))
        return n <= 0 if a.since else n >= a.target

    while True:
        if may_be_reached() and int(ask(exact)) >= a.target:
            return
        time.sleep(a.interval)


if __name__ == '__main__':
    main()
