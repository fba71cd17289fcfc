"""ganbench: a benchmark harness for generative adversarial networks.

Importing this package is cheap: torch, mlflow and optuna load only inside the functions
that need them.
"""

__version__ = "0.1.0"
