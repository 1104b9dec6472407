# Least privilege: three identities, each with only what its pods do.
#   nodes   pull images, write logs and metrics
#   runner  step pods (via workload identity): read/write zenml/ in the bucket
#   mlflow  the MLflow server (via workload identity): read/write mlflow/ in the bucket

resource "google_service_account" "nodes" {
  account_id   = "${var.name}-nodes"
  display_name = "FastDistill GKE nodes"
}

resource "google_project_iam_member" "nodes" {
  for_each = toset([
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/monitoring.viewer",
    "roles/stackdriver.resourceMetadata.writer",
  ])
  project = var.project_id
  role    = each.value
  member  = "serviceAccount:${google_service_account.nodes.email}"
}

resource "google_artifact_registry_repository_iam_member" "nodes_pull" {
  location   = google_artifact_registry_repository.images.location
  repository = google_artifact_registry_repository.images.name
  role       = "roles/artifactregistry.reader"
  member     = "serviceAccount:${google_service_account.nodes.email}"
}

resource "google_service_account" "workload" {
  for_each     = local.workloads
  account_id   = "${var.name}-${each.key}"
  display_name = "FastDistill ${each.key} (workload identity)"
}

locals {
  workloads = {
    runner = { namespace = var.namespace, k8s_sa = var.runner_service_account, prefix = "zenml/" }
    mlflow = { namespace = "mlflow", k8s_sa = "mlflow", prefix = "mlflow/" }
  }
  bucket_resource = "projects/_/buckets/${google_storage_bucket.artifacts.name}"
}

# Object access limited to the identity's own prefix (IAM condition), listing to the bucket.
resource "google_storage_bucket_iam_member" "workload_objects" {
  for_each = local.workloads
  bucket   = google_storage_bucket.artifacts.name
  role     = "roles/storage.objectUser"
  member   = "serviceAccount:${google_service_account.workload[each.key].email}"
  condition {
    title      = "${each.key}-prefix"
    expression = "resource.name.startsWith(\"${local.bucket_resource}/objects/${each.value.prefix}\") || resource.type == \"storage.googleapis.com/Bucket\""
  }
}

resource "google_service_account_iam_member" "workload_identity" {
  for_each           = local.workloads
  service_account_id = google_service_account.workload[each.key].name
  role               = "roles/iam.workloadIdentityUser"
  member             = "serviceAccount:${var.project_id}.svc.id.goog[${each.value.namespace}/${each.value.k8s_sa}]"
}

resource "kubernetes_namespace_v1" "pipelines" {
  metadata {
    name = var.namespace
  }
}

resource "kubernetes_service_account_v1" "runner" {
  metadata {
    name      = var.runner_service_account
    namespace = kubernetes_namespace_v1.pipelines.metadata[0].name
    annotations = {
      "iam.gke.io/gcp-service-account" = google_service_account.workload["runner"].email
    }
  }
}

# The orchestrator pod runs as the runner too and starts one Job per step: it needs exactly this, in its namespace.
resource "kubernetes_role_v1" "runner" {
  metadata {
    name      = "${var.name}-runner"
    namespace = kubernetes_namespace_v1.pipelines.metadata[0].name
  }
  rule {
    api_groups = ["batch"]
    resources  = ["jobs", "cronjobs"]
    verbs      = ["create", "get", "list", "watch", "delete", "patch"]
  }
  rule {
    api_groups = [""]
    resources  = ["pods", "pods/log", "secrets", "events"]
    verbs      = ["create", "get", "list", "watch", "delete"]
  }
}

resource "kubernetes_role_binding_v1" "runner" {
  metadata {
    name      = "${var.name}-runner"
    namespace = kubernetes_namespace_v1.pipelines.metadata[0].name
  }
  role_ref {
    api_group = "rbac.authorization.k8s.io"
    kind      = "Role"
    name      = kubernetes_role_v1.runner.metadata[0].name
  }
  subject {
    kind      = "ServiceAccount"
    name      = kubernetes_service_account_v1.runner.metadata[0].name
    namespace = kubernetes_namespace_v1.pipelines.metadata[0].name
  }
}
