"""The training engine: spec, data, tasks, train, and what reads finished runs."""
