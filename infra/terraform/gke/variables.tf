variable "project_id" {
  description = "GCP project that holds everything (an empty project with billing enabled is enough)."
  type        = string
}

variable "region" {
  description = "Region of the cluster, bucket, registry and database. Pick one with the GPUs below (e.g. europe-west4, us-central1)."
  type        = string
  default     = "europe-west4"
}

variable "zones" {
  description = "Zones of the node pools; GPU types are zonal, check `gcloud compute accelerator-types list`."
  type        = list(string)
  default     = ["europe-west4-a"]
}

variable "name" {
  description = "Prefix of every resource name."
  type        = string
  default     = "fastdistill"
}

variable "authorized_networks" {
  description = "CIDR blocks allowed to reach the cluster's API server (your office/VPN, CI). Nothing else can."
  type        = list(object({ cidr_block = string, display_name = string }))
}

variable "rbac_security_group" {
  description = "Google Groups for RBAC: gke-security-groups@<your domain> (needs Workspace/Cloud Identity); null turns it off."
  type        = string
  default     = null
}

variable "subnet_cidr" {
  description = "Primary range of the nodes' subnet."
  type        = string
  default     = "10.10.0.0/20"
}

variable "pods_cidr" {
  description = "Secondary range for pods."
  type        = string
  default     = "10.20.0.0/14"
}

variable "services_cidr" {
  description = "Secondary range for services."
  type        = string
  default     = "10.24.0.0/20"
}

variable "master_cidr" {
  description = "/28 for the private control plane."
  type        = string
  default     = "172.16.0.0/28"
}

variable "system_machine_type" {
  description = "CPU pool: load_seeds, quality_gate, register_student, MLflow, the orchestrator pod (configs/k8s.yaml describes it under parameters.cluster)."
  type        = string
  default     = "e2-standard-8"
}

variable "system_max_nodes" {
  description = "Upper bound of the CPU pool per zone (it keeps at least one node for MLflow and the system pods)."
  type        = number
  default     = 3
}

variable "gpu_pools" {
  description = <<-EOT
    GPU node pools, keyed by the `pool` label the run config selects (configs/k8s.yaml).
    Each scales from 0 (nothing is paid while no step runs) to max_nodes, is tainted
    nvidia.com/gpu=present:NoSchedule, and gets NVIDIA drivers from GKE (driver_version).
    gpus_per_node should match the steps' nvidia.com/gpu requests (teacher.tensor_parallel_size).
  EOT
  type = map(object({
    machine_type   = string
    accelerator    = string
    gpus_per_node  = number
    max_nodes      = number
    spot           = bool
    disk_size_gb   = number
    driver_version = string
  }))
  default = {
    "gpu-inference" = {
      machine_type   = "g2-standard-12"
      accelerator    = "nvidia-l4"
      gpus_per_node  = 1
      max_nodes      = 2
      spot           = true
      disk_size_gb   = 200
      driver_version = "LATEST"
    }
    "gpu-train" = {
      machine_type   = "a2-highgpu-1g"
      accelerator    = "nvidia-tesla-a100"
      gpus_per_node  = 1
      max_nodes      = 1
      spot           = false
      disk_size_gb   = 200
      driver_version = "LATEST"
    }
  }
}

variable "namespace" {
  description = "Kubernetes namespace of the pipeline pods (the orchestrator's kubernetes_namespace)."
  type        = string
  default     = "zenml"
}

variable "runner_service_account" {
  description = "Kubernetes service account of the step pods (service_account_name in configs/k8s.yaml)."
  type        = string
  default     = "fastdistill-runner"
}

variable "mlflow_image" {
  description = "MLflow server image with psycopg2 and google-cloud-storage (built from infra/docker/mlflow.Dockerfile; empty: <registry>/mlflow:3.17.2)."
  type        = string
  default     = ""
}

variable "mlflow_username" {
  description = "MLflow basic-auth admin user the pipeline logs in as."
  type        = string
  default     = "fastdistill"
}

variable "db_tier" {
  description = "Cloud SQL machine tier of MLflow's Postgres."
  type        = string
  default     = "db-custom-1-3840"
}

variable "deletion_protection" {
  description = "Protect the cluster and database from `terraform destroy` (turn off to tear everything down)."
  type        = bool
  default     = true
}

variable "labels" {
  description = "Labels put on every resource that takes them (cost attribution)."
  type        = map(string)
  default     = { app = "fastdistill" }
}
