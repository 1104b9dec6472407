# MLflow tracking server and model registry on the cluster: Postgres on Cloud SQL
# (private IP only) for runs and the registry, the bucket's mlflow/ prefix for
# artifacts (served through the server, so clients need no bucket access), basic
# auth with a generated admin password kept in Secret Manager.

resource "random_password" "db" {
  length  = 32
  special = false
}

resource "random_password" "mlflow_admin" {
  length  = 32
  special = false
}

resource "google_sql_database_instance" "mlflow" {
  #checkov:skip=CKV_GCP_6:connections are TLS-only (ssl_mode ENCRYPTED_ONLY) over private IP; client certificates would need the Cloud SQL Auth Proxy beside MLflow for no gain inside the VPC
  name                = "${var.name}-mlflow"
  region              = var.region
  database_version    = "POSTGRES_18"
  deletion_protection = var.deletion_protection
  depends_on          = [google_service_networking_connection.sql]

  settings {
    tier              = var.db_tier
    availability_type = "ZONAL"
    user_labels       = var.labels

    ip_configuration {
      ipv4_enabled    = false
      private_network = google_compute_network.main.id
      ssl_mode        = "ENCRYPTED_ONLY"
    }

    backup_configuration {
      enabled                        = true
      point_in_time_recovery_enabled = true
    }

    # Audit logging flags (the CIS benchmark's); written out because checkov cannot read a dynamic block.
    database_flags {
      name  = "log_checkpoints"
      value = "on"
    }
    database_flags {
      name  = "log_connections"
      value = "on"
    }
    database_flags {
      name  = "log_disconnections"
      value = "on"
    }
    database_flags {
      name  = "log_lock_waits"
      value = "on"
    }
    database_flags {
      name  = "log_min_messages"
      value = "error"
    }
    database_flags {
      name  = "log_min_error_statement"
      value = "error"
    }
    database_flags {
      name  = "log_temp_files"
      value = "0"
    }
    database_flags {
      name  = "log_min_duration_statement"
      value = "-1"
    }
    database_flags {
      name  = "log_hostname"
      value = "on"
    }
    database_flags {
      name  = "log_duration"
      value = "on"
    }
    database_flags {
      name  = "log_statement"
      value = "ddl"
    }
    database_flags {
      name  = "log_error_verbosity"
      value = "default"
    }
    database_flags {
      name  = "cloudsql.enable_pgaudit"
      value = "on"
    }
  }
}

resource "google_sql_database" "mlflow" {
  name     = "mlflow"
  instance = google_sql_database_instance.mlflow.name
}

resource "google_sql_user" "mlflow" {
  name     = "mlflow"
  instance = google_sql_database_instance.mlflow.name
  password = random_password.db.result
}

# Where `run.py stack k8s` users read the password from (docs/kubernetes.md); never a Terraform output.
resource "google_secret_manager_secret" "mlflow_password" {
  secret_id = "${var.name}-mlflow-password"
  labels    = var.labels
  replication {
    auto {}
  }
}

resource "google_secret_manager_secret_version" "mlflow_password" {
  secret      = google_secret_manager_secret.mlflow_password.id
  secret_data = random_password.mlflow_admin.result
}

resource "kubernetes_namespace_v1" "mlflow" {
  metadata {
    name = "mlflow"
  }
}

resource "kubernetes_service_account_v1" "mlflow" {
  metadata {
    name      = "mlflow"
    namespace = kubernetes_namespace_v1.mlflow.metadata[0].name
    annotations = {
      "iam.gke.io/gcp-service-account" = google_service_account.workload["mlflow"].email
    }
  }
}

resource "kubernetes_secret_v1" "mlflow" {
  metadata {
    name      = "mlflow"
    namespace = kubernetes_namespace_v1.mlflow.metadata[0].name
  }
  data = {
    MLFLOW_BACKEND_STORE_URI = "postgresql://mlflow:${random_password.db.result}@${google_sql_database_instance.mlflow.private_ip_address}:5432/mlflow?sslmode=require"
    "basic_auth.ini"         = <<-EOT
      [mlflow]
      default_permission = READ
      database_uri = postgresql://mlflow:${random_password.db.result}@${google_sql_database_instance.mlflow.private_ip_address}:5432/mlflow?sslmode=require
      admin_username = ${var.mlflow_username}
      admin_password = ${random_password.mlflow_admin.result}
    EOT
  }
}

locals {
  registry_uri = "${var.region}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.images.repository_id}"
  mlflow_image = var.mlflow_image != "" ? var.mlflow_image : "${local.registry_uri}/mlflow:3.17.2"
}

resource "kubernetes_deployment_v1" "mlflow" {
  #checkov:skip=CKV_K8S_14:the tag is fixed (mlflow:3.17.2 or var.mlflow_image); checkov cannot resolve the local it comes from
  #checkov:skip=CKV_K8S_35:MLflow reads its backend URI only from the command line or MLFLOW_BACKEND_STORE_URI; the env var from a secret keeps it out of the pod spec and process list
  #checkov:skip=CKV_K8S_43:the image is built by the user into this project's registry (infra/docker/mlflow.Dockerfile); its digest is not known when this is written
  metadata {
    name      = "mlflow"
    namespace = kubernetes_namespace_v1.mlflow.metadata[0].name
    labels    = { app = "mlflow" }
  }
  spec {
    replicas = 1
    selector {
      match_labels = { app = "mlflow" }
    }
    template {
      metadata {
        labels = { app = "mlflow" }
      }
      spec {
        service_account_name            = kubernetes_service_account_v1.mlflow.metadata[0].name
        automount_service_account_token = false
        node_selector                   = { pool = "system" }
        security_context {
          run_as_non_root = true
          run_as_user     = 10001
          fs_group        = 10001
          seccomp_profile {
            type = "RuntimeDefault"
          }
        }
        container {
          name              = "mlflow"
          image             = local.mlflow_image
          image_pull_policy = "Always"
          args = [
            "mlflow", "server", "--host", "0.0.0.0", "--port", "5000",
            "--app-name", "basic-auth",
            "--artifacts-destination", "gs://${google_storage_bucket.artifacts.name}/mlflow",
            "--serve-artifacts",
          ]
          # The backend URI comes from the secret, never from the command line.
          env {
            name = "MLFLOW_BACKEND_STORE_URI"
            value_from {
              secret_key_ref {
                name = kubernetes_secret_v1.mlflow.metadata[0].name
                key  = "MLFLOW_BACKEND_STORE_URI"
              }
            }
          }
          env {
            name  = "MLFLOW_AUTH_CONFIG_PATH"
            value = "/etc/mlflow/basic_auth.ini"
          }
          port {
            container_port = 5000
          }
          resources {
            requests = { cpu = "500m", memory = "1Gi" }
            limits   = { cpu = "2", memory = "4Gi" }
          }
          liveness_probe {
            http_get {
              path = "/health"
              port = 5000
            }
            initial_delay_seconds = 30
          }
          readiness_probe {
            http_get {
              path = "/health"
              port = 5000
            }
          }
          security_context {
            allow_privilege_escalation = false
            read_only_root_filesystem  = true
            run_as_non_root            = true
            capabilities {
              drop = ["ALL"]
            }
          }
          volume_mount {
            name       = "auth"
            mount_path = "/etc/mlflow"
            read_only  = true
          }
          volume_mount {
            name       = "tmp"
            mount_path = "/tmp"
          }
        }
        volume {
          name = "auth"
          secret {
            secret_name = kubernetes_secret_v1.mlflow.metadata[0].name
            items {
              key  = "basic_auth.ini"
              path = "basic_auth.ini"
            }
          }
        }
        volume {
          name = "tmp"
          empty_dir {}
        }
      }
    }
  }
}

resource "kubernetes_service_v1" "mlflow" {
  metadata {
    name      = "mlflow"
    namespace = kubernetes_namespace_v1.mlflow.metadata[0].name
  }
  spec {
    selector = { app = "mlflow" }
    port {
      port        = 5000
      target_port = 5000
    }
  }
}

# Only the pipeline namespace reaches MLflow (Dataplane V2 enforces it).
resource "kubernetes_network_policy_v1" "mlflow" {
  metadata {
    name      = "mlflow-from-pipelines"
    namespace = kubernetes_namespace_v1.mlflow.metadata[0].name
  }
  spec {
    pod_selector {
      match_labels = { app = "mlflow" }
    }
    policy_types = ["Ingress"]
    ingress {
      from {
        namespace_selector {
          match_labels = { "kubernetes.io/metadata.name" = var.namespace }
        }
      }
      ports {
        port     = "5000"
        protocol = "TCP"
      }
    }
  }
}
