#!/usr/bin/env python3
"""Waits until a secondary's tracking DB has at least TARGET copies synced and
verified, polling every INTERVAL seconds over one kept psql connection.

    bench/wait_verified.py CONNINFO TARGET [INTERVAL]

A benchmark must not slow what it measures: a new psql (a process and a
PostgreSQL backend) per poll, counting every registry row, took a sixth of
this 2-core machine's CPU during the small-files run. So each poll reads the
registry's maintained counts (georep.registry_counts plus the deltas not yet
folded, a few rows), and only when they reach TARGET is the exact count
(rows synced and verified, every registry table) taken; the wait ends when
that count reaches TARGET too. Prints nothing; exits 0 when reached.
"""
import subprocess
import sys
import time

VERIFIED = 2  # SyncState::kSynced and VerificationState::kSucceeded


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    conninfo, target = sys.argv[1], int(sys.argv[2])
    interval = float(sys.argv[3]) if len(sys.argv) == 4 else 0.02
    psql = subprocess.Popen(['psql', conninfo, '-XAtq', '-v', 'ON_ERROR_STOP=1'],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    def ask(sql):
        psql.stdin.write(sql + ';\n')
        psql.stdin.flush()
        line = psql.stdout.readline()
        if not line:
            sys.exit('wait_verified: psql ended: is the tracking database up?')
        return line.strip()

    tables = ask("SELECT string_agg(tablename, ' ') FROM pg_tables "
                 "WHERE schemaname = 'georep' AND tablename LIKE '%\\_registry'").split()
    cheap = ("SELECT coalesce(sum(n), 0) FROM ("
             "SELECT count AS n FROM georep.registry_counts "
             f"WHERE replicable LIKE '%:verification' AND state = {VERIFIED} UNION ALL "
             "SELECT delta FROM georep.registry_count_deltas "
             f"WHERE replicable LIKE '%:verification' AND state = {VERIFIED}) x")
    exact = "SELECT " + (" + ".join(
        f"(SELECT count(*) FROM georep.{t} WHERE state = {VERIFIED} "
        f"AND verification_state = {VERIFIED})" for t in tables) or "0")
    while True:
        if int(ask(cheap)) >= target and int(ask(exact)) >= target:
            return
        time.sleep(interval)


if __name__ == '__main__':
    main()
