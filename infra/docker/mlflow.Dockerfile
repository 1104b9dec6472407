# MLflow server for the cluster (infra/terraform/gke/mlflow.tf): the version the project pins,
# plus the Postgres driver and GCS client its backend and artifact store need.
FROM python:3.11-slim
RUN pip install --no-cache-dir mlflow==3.17.2 psycopg2-binary==2.9.13 google-cloud-storage==3.17.1 \
 && useradd --uid 10001 --create-home mlflow
USER 10001
WORKDIR /home/mlflow
