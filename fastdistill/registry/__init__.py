"""The MLflow model registry: registration, the promotion gate, ZenML stages, Born-Again chains."""
