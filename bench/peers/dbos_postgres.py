"""The peers' DBOS benchmark (../shared/peers/dbos_bench.py) on Postgres.

The same workflow, workloads and measurements as the SQLite script, imported
from it unchanged; only where DBOS keeps its system database differs: a
Postgres database on the server DBOS_PG names (a URL without a database, e.g.
postgresql://savepoint@127.0.0.1:5432), one database per configuration (the
script's --db is its name), dropped and made anew before each run as the
SQLite script removes its file. DB bytes are pg_database_size() after the
run, less that of the empty database DBOS starts from.

  DBOS_PG=postgresql://user@host:port python dbos_postgres.py seq --size 100 --runs 200 --db dbos_seq
  ... conc --mode threads|async --size 100 --n 100 --db dbos_conc
  ... resume --db dbos_resume --workdir /tmp/dbos-resume

Each prints one "RESULT {json}" line, as the SQLite script does, with the
engine named "dbos-postgres" so that summarize.py keeps it apart.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS = os.environ.get("PEERS", os.path.join(HERE, "..", "..", "..", "shared", "peers"))
sys.path.insert(0, os.path.abspath(PEERS))

import psycopg  # noqa: E402  (DBOS's own Postgres driver)

import common  # noqa: E402
import dbos_bench  # noqa: E402
from dbos import DBOS  # noqa: E402

SERVER = os.environ.get("DBOS_PG", "").rstrip("/")
if not SERVER.startswith(("postgres://", "postgresql://")):
    sys.exit("DBOS_PG must name a Postgres server: postgresql://USER@HOST:PORT")


def url(db):
    return f"{SERVER}/{os.path.basename(db)}"


def admin():
    return psycopg.connect(url("postgres"), autocommit=True)


def drop_database(db):
    with admin() as c:
        c.execute(f'DROP DATABASE IF EXISTS "{os.path.basename(db)}" WITH (FORCE)')


def database_bytes(db):
    with admin() as c:
        row = c.execute("SELECT pg_database_size(%s)", (os.path.basename(db),)).fetchone()
        empty = c.execute("SELECT pg_database_size('template1')").fetchone()
    return max(row[0] - empty[0], 0) if row else 0


def launch(db):
    DBOS(
        config={
            "name": "peers-bench",
            "system_database_url": url(db),
            "application_version": "peers-bench-1",
            "log_level": os.environ.get("BENCH_DBOS_LOG", "WARNING"),
        }
    )
    DBOS.launch()


def settings():
    from dbos._dbos import _get_dbos_instance

    eng = _get_dbos_instance()._sys_db.engine
    with eng.connect() as c:
        show = {k: c.exec_driver_sql(f"SHOW {k}").scalar() for k in ("synchronous_commit", "fsync")}
        version = c.exec_driver_sql("SHOW server_version").scalar()
    return {
        "backend": f"postgres {version}",
        "journal_mode": "postgres",
        "synchronous": f"synchronous_commit={show['synchronous_commit']}, fsync={show['fsync']}",
        "pool": f"{type(eng.pool).__name__}(size={getattr(eng.pool, 'size', lambda: None)()})",
    }


def row_counts(db):
    with psycopg.connect(url(db)) as c:
        return {
            "operation_output_rows": c.execute("select count(*) from dbos.operation_outputs").fetchone()[0],
            "workflow_status_rows": c.execute("select count(*) from dbos.workflow_status").fetchone()[0],
        }


def cmd_resume(a):
    # The SQLite script's, with this file as the child script (the phases run here too).
    res = common.run_resume_scenario(os.path.abspath(__file__), a.db, a.workdir)
    res.update({
        "engine": "dbos",
        "workload": "resume",
        "import_s": common.import_time("from dbos import DBOS"),
        "python_startup_s": common.interpreter_startup(),
    })
    common.emit(res)


_emit = common.emit


def emit(obj):
    _emit({**obj, "engine": "dbos-postgres"} if obj.get("engine") == "dbos" else obj)


# Where the SQLite script touches its file, it touches the database instead.
common.emit = emit
common.remove_db = drop_database
common.db_bytes = database_bytes
dbos_bench.launch = launch
dbos_bench.pragmas = settings
dbos_bench.row_counts = row_counts
dbos_bench.cmd_resume = cmd_resume

if __name__ == "__main__":
    dbos_bench.main()
