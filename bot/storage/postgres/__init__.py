"""The PostgreSQL driver (asyncpg): pool and sweep in connection.py, tables by concern,
bytes behind ``TableBlobs``, migrations.py for the schema."""

from bot.storage.postgres.store import PostgresStore, open_postgres

__all__ = ["PostgresStore", "open_postgres"]
