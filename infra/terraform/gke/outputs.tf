# Read by `python run.py stack k8s --outputs outputs.json` (fastdistill/infra/k8s_stack.py: GcpOutputs).
# No output carries a secret: MLflow's password is in Secret Manager (mlflow_password_secret).

output "cloud" {
  description = "Variant that produced these outputs."
  value       = "gcp"
}

output "project_id" {
  description = "GCP project."
  value       = var.project_id
}

output "region" {
  description = "Region of the cluster and registry."
  value       = var.region
}

output "kubernetes_context" {
  description = "kubeconfig context `gcloud container clusters get-credentials` creates for this cluster."
  value       = "gke_${var.project_id}_${var.region}_${google_container_cluster.main.name}"
}

output "kubernetes_namespace" {
  description = "Namespace of the pipeline pods."
  value       = kubernetes_namespace_v1.pipelines.metadata[0].name
}

output "runner_service_account" {
  description = "Kubernetes service account of the step pods (workload identity)."
  value       = kubernetes_service_account_v1.runner.metadata[0].name
}

output "artifact_store_path" {
  description = "ZenML artifact store path."
  value       = "gs://${google_storage_bucket.artifacts.name}/zenml"
}

output "container_registry_uri" {
  description = "Artifact Registry repository for the pipeline images."
  value       = local.registry_uri
}

output "mlflow_tracking_uri" {
  description = "MLflow inside the cluster (step pods); from a laptop: kubectl -n mlflow port-forward svc/mlflow 5000."
  value       = "http://${kubernetes_service_v1.mlflow.metadata[0].name}.${kubernetes_namespace_v1.mlflow.metadata[0].name}.svc.cluster.local:5000"
}

output "mlflow_username" {
  description = "MLflow basic-auth user."
  value       = var.mlflow_username
}

output "mlflow_password_secret" {
  description = "Secret Manager secret holding MLflow's password (read it with gcloud, export as MLFLOW_TRACKING_PASSWORD)."
  value       = google_secret_manager_secret.mlflow_password.secret_id
}
