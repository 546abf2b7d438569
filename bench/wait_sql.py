#!/usr/bin/env python3
"""Waits until a query returns true, polling every INTERVAL seconds over one
kept psql connection (a new psql per poll would slow what is measured).

    bench/wait_sql.py CONNINFO QUERY [INTERVAL] [--timeout SECONDS]

QUERY returns one boolean. Prints nothing; exits 0 once it is true, 1 with a
message after --timeout seconds (default: none).
"""
import argparse
import subprocess
import time


def main():
    ap = argparse.ArgumentParser(usage=__doc__)
    ap.add_argument('conninfo')
    ap.add_argument('query')
    ap.add_argument('interval', type=float, nargs='?', default=0.05)
    ap.add_argument('--timeout', type=float)
    a = ap.parse_args()
    psql = subprocess.Popen(['psql', a.conninfo, '-XAtq', '-v', 'ON_ERROR_STOP=1'],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
    deadline = time.monotonic() + a.timeout if a.timeout else None
    while True:
        psql.stdin.write(a.query + ';\n')
        psql.stdin.flush()
        line = psql.stdout.readline()
        if not line:
            raise SystemExit('wait_sql: psql ended: is the database up?')
        if line.strip() == 't':
            return
        if deadline and time.monotonic() > deadline:
            raise SystemExit(f'wait_sql: still false after {a.timeout:.0f} s: {a.query}')
        time.sleep(a.interval)


if __name__ == '__main__':
    main()
