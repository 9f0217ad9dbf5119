"""Where NEAT Studio keeps its data, read from the environment at call time.

- NEAT_HOME       data folder (database, queue, runs); default ~/.neat-studio
- NEAT_DB_URL     any SQLAlchemy URL; default a SQLite file NEAT_HOME/neat.db
- NEAT_QUEUE_URL  sqlite:///PATH (SQLite-backed Huey, the default NEAT_HOME/queue.db)
                  or redis://host:port/db (for workers on many machines)
- NEAT_QUEUE_NAME name of the Huey queue (default "neat-studio"); lets two setups share a Redis
- NEAT_HEARTBEAT_S seconds between a running job's heartbeats (default 5)

Nothing is cached here: tests and the CLI change the environment between calls.
"""

from __future__ import annotations

import os
from pathlib import Path

from neat.engine.assets import neat_home  # one definition of the data folder for all layers


def runs_dir() -> Path:
    return neat_home() / "runs"


def evaluations_dir() -> Path:
    """Where evaluation jobs write metrics.json and predictions.csv: NEAT_HOME/evaluations/<id>/."""
    return neat_home() / "evaluations"


def db_url() -> str:
    return os.environ.get("NEAT_DB_URL") or f"sqlite:///{neat_home() / 'neat.db'}"


def queue_url() -> str:
    return os.environ.get("NEAT_QUEUE_URL") or f"sqlite:///{neat_home() / 'queue.db'}"


def queue_name() -> str:
    return os.environ.get("NEAT_QUEUE_NAME") or "neat-studio"


def heartbeat_interval() -> float:
    return float(os.environ.get("NEAT_HEARTBEAT_S") or 5.0)
