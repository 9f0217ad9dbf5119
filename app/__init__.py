"""NEAT Studio's browser UI (Gradio Blocks): one module per tab under app/tabs/.

The UI holds no training logic: it builds a `neat.engine.spec.RunSpec`, hands it to the job queue
(`jobs.api`) and reads jobs, metrics and finished runs back. `python -m app` starts it.
"""
