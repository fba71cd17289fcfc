"""Tracking: MLflow runs for suites (parent) and cells (children)."""
