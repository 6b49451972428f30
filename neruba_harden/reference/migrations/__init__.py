"""Alembic scripts of the reference receiver (a package so that env.py ships in wheels)."""
