"""FastDistill command line (the commands live in fastdistill/cli/).

    python run.py                                  # the quickstart (configs/quickstart.yaml)
    python run.py distill --config configs/tiny.yaml --no-cache
    python run.py distill --config my.yaml --dry-run   # the preflight only: config, MLflow store, report dir
    python run.py stack                            # create/show the local ZenML + MLflow stack
    python run.py stack k8s --outputs outputs.json # register the Kubernetes stack from Terraform outputs
    .venv-kfp/bin/python run.py stack kubeflow --outputs outputs.json   # ... with Kubeflow Pipelines instead
    python run.py evaluate --model models:/fastdistill-student@champion --data my.jsonl --output metrics.json
    python run.py report RUN                       # regenerate a run's HTML report
    python run.py promote 3 --reason "better on the new eval set"
    python run.py export models:/fastdistill-student@champion --output student/   # a standalone HF folder
    python run.py --help                           # every command and option
"""

import os

# Before ZenML, MLflow or transformers are imported: no telemetry, no hub calls.
os.environ.setdefault("ZENML_ANALYTICS_OPT_IN", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from fastdistill.cli import cli  # after the environment defaults

if __name__ == "__main__":
    cli()
