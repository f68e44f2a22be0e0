"""State: the database (SQLite) that holds caches, the schedule's ledger and the outbox."""
