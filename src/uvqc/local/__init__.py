"""The embedded runtime: workers over the SQLite queues, running the same two stages."""
