"""Adapters around the pure core: files, SQLite, SMTP, and AWS services."""
