"""Persistence (SQLAlchemy), queue (Huey) and worker for NEAT Studio training jobs.

Front doors: `jobs.api` (Python), `python -m jobs` (CLI), `python -m jobs.worker` (worker).
"""
