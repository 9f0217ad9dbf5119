"""`python -m neat.train`: the command line of the training engine (neat/engine/train.py)."""
