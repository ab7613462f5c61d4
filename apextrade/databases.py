"""Creating the project's PostgreSQL databases when they are missing (first run on a machine)."""

import psycopg
from django.conf import settings
from psycopg import sql


def create_missing_databases() -> list[str]:
    """CREATE DATABASE for every configured alias whose database does not exist yet; returns the
    names created. Connects to the server's `postgres` maintenance database."""
    created = []
    for alias, config in settings.DATABASES.items():
        name = config["NAME"]
        with psycopg.connect(
            host=config.get("HOST") or "127.0.0.1",
            port=config.get("PORT") or 5432,
            user=config.get("USER") or "postgres",
            password=config.get("PASSWORD") or None,
            dbname="postgres",
            autocommit=True,
        ) as connection:
            exists = connection.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [name]
            ).fetchone()
            if not exists:
                connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                created.append(f"{alias}: {name}")
    return created
