"""NEAT: nonlinear parameter-efficient adaptation (dW = f(W0)), built on Hugging Face PEFT.

The method lives here: neat/layer.py (the math) and neat/tuner.py (config and PEFT hook).
The training engine built on it (spec, data, tasks, train, and what reads finished runs) is
the subpackage neat/engine/, used by the CLI (python -m neat.train), the job queue and the
web app. Importing this package needs only torch, transformers and peft.
"""

__all__ = ["NeatConfig", "get_neat_model", "load_neat_model"]


def __getattr__(name: str):
    # Lazy: `import neat.engine.spec` (CLIs, the job store) must not pay for loading torch and peft.
    if name in __all__:
        from neat import tuner

        return getattr(tuner, name)
    raise AttributeError(f"module 'neat' has no attribute {name!r}")
