#!/usr/bin/env python3
"""An application that writes PostgreSQL itself: commits one row at a time
into TABLE (writer int, seq int) over one kept psql session, as ROLE would,
and appends the seq of every commit PostgreSQL acknowledged to OUT. A session
ended or refused (a fence) is reopened, after a short pause, until STOP
exists.

    bench/sql_writer.py CONNINFO TABLE WRITER OUT STOP
"""
import argparse
import os
import subprocess
import time


def main():
    ap = argparse.ArgumentParser(usage=__doc__)
    ap.add_argument('conninfo')
    ap.add_argument('table')
    ap.add_argument('writer', type=int)
    ap.add_argument('out')
    ap.add_argument('stop')
    a = ap.parse_args()
    seq = 0
    with open(a.out, 'a', buffering=1) as out:
        while not os.path.exists(a.stop):
            psql = subprocess.Popen(
                ['psql', a.conninfo, '-XAtq', '-v', 'ON_ERROR_STOP=1'],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                text=True, bufsize=1)
            try:
                while not os.path.exists(a.stop):
                    seq += 1
                    psql.stdin.write(f'INSERT INTO {a.table} (writer, seq) VALUES '
                                     f'({a.writer}, {seq}) RETURNING seq;\n')
                    psql.stdin.flush()
                    line = psql.stdout.readline()
                    if not line:
                        break  # the session ended: not acknowledged
                    out.write(line)
            except BrokenPipeError:
                pass
            psql.kill()
            psql.wait()
            time.sleep(0.05)


if __name__ == '__main__':
    main()
