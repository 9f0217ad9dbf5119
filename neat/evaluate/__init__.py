"""`python -m neat.evaluate`: score a finished run on a file, or on its own test split."""
