"""Storage: tables, sessions, migrations and the durable queue."""
