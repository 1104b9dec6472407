"""Stacks and clusters: the local ZenML + MLflow stack, Kubernetes placement and the cloud stack."""
