# Shared by scripts/run and scripts/test: the virtual environment and the service checks.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON="${PYTHON:-python3.11}"
VENV=".venv"

ensure_venv() {
    local requirements="$1"
    if [ ! -x "$VENV/bin/python" ]; then
        echo "==> Creating the virtual environment in $VENV"
        "$PYTHON" -m venv "$VENV"
    fi
    local stamp="$VENV/.installed-$(sha256sum "$requirements" requirements.txt | sha256sum | cut -c1-16)"
    if [ ! -f "$stamp" ]; then
        echo "==> Installing $requirements"
        "$VENV/bin/python" -m pip install --quiet --upgrade pip
        "$VENV/bin/python" -m pip install --quiet -r "$requirements"
        touch "$stamp"
    fi
}

require_services() {
    "$VENV/bin/python" - <<'PY'
import os, sys
import environ

env = environ.Env()
problems = []
for name, default in (
    ("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/apextrade"),
    ("TIMESCALE_URL", "postgres://postgres@127.0.0.1:5432/apextrade_ts"),
):
    cfg = env.db_url_config(os.environ.get(name, default))
    import psycopg
    try:
        psycopg.connect(
            host=cfg["HOST"] or "127.0.0.1", port=cfg["PORT"] or 5432,
            user=cfg["USER"] or "postgres", password=cfg["PASSWORD"] or None,
            dbname="postgres", connect_timeout=3,
        ).close()
    except Exception as exc:
        problems.append(
            f"PostgreSQL is not reachable for {name} ({cfg['HOST']}:{cfg['PORT']}): {exc}\n"
            "  Start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
        )
import redis
url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
try:
    redis.Redis.from_url(url, socket_connect_timeout=3).ping()
except Exception as exc:
    problems.append(
        f"Redis is not reachable at {url}: {exc}\n"
        "  Start it with: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no"
    )
if problems:
    print("ApexTrade needs PostgreSQL and Redis running:\n" + "\n".join(problems), file=sys.stderr)
    sys.exit(1)
PY
}
