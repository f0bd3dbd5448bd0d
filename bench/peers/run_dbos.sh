#!/usr/bin/env bash
# DBOS on SQLite and on Postgres, interleaved, REPS times: the peers' W1 (sequential,
# 100 at once with threads and with asyncio) and W2 resume, then one table of medians
# (the peers' summarize.py). The SQLite runs are the peers' dbos_bench.py as it is; the
# Postgres runs are dbos_postgres.py (the same script, its system database on Postgres).
#
#   bash bench/peers/run_dbos.sh                  # REPS=3 RUNS=200 CONC=100, 100 B and 100 KB
#   REPS=1 RUNS=20 CONC=20 SIZES=100 bash bench/peers/run_dbos.sh   # a one-minute smoke run
#
# Env: PY (the venv's python with dbos: python3 -m venv /tmp/peers-venv &&
# /tmp/peers-venv/bin/pip install dbos), PEERS (default ../shared/peers of the
# repository), REPS, RUNS, CONC, SIZES, DATA (scratch, default /tmp/peers-data).
# Postgres: the server of SAVEPOINT_BENCH_PG (a URL; its user must be able to create
# databases), else a throwaway one from `scripts/pg start`, stopped at the end.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
PEERS=${PEERS:-$REPO/../shared/peers}
PY=${PY:-/tmp/peers-venv/bin/python}
REPS=${REPS:-3}
RUNS=${RUNS:-200}
CONC=${CONC:-100}
SIZES=${SIZES:-"100 100000"}
DATA=${DATA:-/tmp/peers-data}
mkdir -p "$DATA"
STAMP=$(date +%Y%m%d-%H%M%S)
OUT=${OUT:-$DATA/dbos-results-$STAMP.jsonl}
ERR=$DATA/dbos-stderr-$STAMP.log
: >"$OUT"
export PEERS

if ! "$PY" -c "from dbos import DBOS; import psycopg" 2>/dev/null; then
    echo "$PY cannot import dbos and psycopg: python3 -m venv /tmp/peers-venv && /tmp/peers-venv/bin/pip install dbos" >&2
    exit 1
fi

if [[ -n "${SAVEPOINT_BENCH_PG:-}" ]]; then
    url=$SAVEPOINT_BENCH_PG
else
    pgdir=$(mktemp -d "$DATA/pg.XXXXXX")
    url=$("$REPO/scripts/pg" start "$pgdir" | tail -n1) || exit 1
    trap '"$REPO/scripts/pg" stop "$pgdir"; rm -rf "$pgdir"' EXIT
fi
# The server without its database and query: DBOS makes a database per configuration.
server=${url%%\?*}
export DBOS_PG=${server%/*}
echo "Postgres: $(sed -E 's#(//[^:/@]*):[^@/]*@#\1:***@#' <<<"$DBOS_PG")" >&2

SQ="$PEERS/dbos_bench.py"
PG="$HERE/dbos_postgres.py"

run() {
    echo "== $(basename "$1") ${*:2}" >&2
    local line
    line=$("$PY" "$@" 2>>"$ERR" | grep '^RESULT ' | tail -n1)
    if [[ -z "$line" ]]; then
        echo "   FAILED (see $ERR)" >&2
        return
    fi
    echo "${line#RESULT }" >>"$OUT"
}

{
    "$PY" -c 'import sys, sqlite3; print("python", sys.version.split()[0], "| sqlite", sqlite3.sqlite_version)'
    "$PY" -m pip list 2>/dev/null | grep -iE '^(dbos|sqlalchemy|psycopg|psycopg-binary) '
} >&2

for rep in $(seq 1 "$REPS"); do
    echo "### repetition $rep/$REPS" >&2
    for size in $SIZES; do
        run "$SQ" seq --size "$size" --runs "$RUNS" --db "$DATA/dbos-seq.sqlite"
        run "$PG" seq --size "$size" --runs "$RUNS" --db dbos_seq
        for mode in threads async; do
            run "$SQ" conc --mode "$mode" --size "$size" --n "$CONC" --db "$DATA/dbos-conc.sqlite"
            run "$PG" conc --mode "$mode" --size "$size" --n "$CONC" --db dbos_conc
        done
    done
    run "$SQ" resume --db "$DATA/dbos-resume.sqlite" --workdir "$DATA/dbos-resume"
    run "$PG" resume --db dbos_resume --workdir "$DATA/dbos-pg-resume"
done

rm -f "$DATA"/dbos-seq.sqlite* "$DATA"/dbos-conc.sqlite*
for db in dbos_seq dbos_conc dbos_resume; do
    "$PY" -c 'import psycopg, sys
with psycopg.connect(sys.argv[1] + "/postgres", autocommit=True) as c:
    c.execute(f"DROP DATABASE IF EXISTS {sys.argv[2]} WITH (FORCE)")' "$DBOS_PG" "$db"
done
echo "raw results: $OUT" >&2
echo
"$PY" "$PEERS/summarize.py" "$OUT"
