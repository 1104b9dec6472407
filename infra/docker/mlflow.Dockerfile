# MLflow server for both clusters (infra/terraform/gke/mlflow.tf, infra/terraform/eks/manifests/mlflow.yaml):
# the version the project pins, with its `auth` extra (Flask-WTF: the basic-auth app both clusters run
# imports it), the Postgres driver (Cloud SQL, RDS), and each cloud's artifact client: google-cloud-storage
# for GCS, boto3 for S3 (EKS's start script also reads its passwords from Secrets Manager with it).
FROM python:3.11-slim
RUN pip install --no-cache-dir 'mlflow[auth]==3.17.2' psycopg2-binary==2.9.13 google-cloud-storage==3.17.1 \
      boto3==1.44.5 \
 && useradd --uid 10001 --create-home mlflow
USER 10001
WORKDIR /home/mlflow
