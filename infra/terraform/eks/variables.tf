variable "region" {
  description = "Region of everything. Pick one with the GPU instance types below (g6 and g6e: e.g. us-east-1, us-east-2, us-west-2, eu-west-1)."
  type        = string
  default     = "us-east-1"
}

variable "availability_zones" {
  description = "Zones of the subnets, in var.region (2 or 3: EKS and RDS need two). GPU types are not in every zone: check `aws ec2 describe-instance-type-offerings --location-type availability-zone --filters Name=instance-type,Values=g6e.4xlarge --region <region>`."
  type        = list(string)
  default     = ["us-east-1a", "us-east-1b", "us-east-1c"]
  validation {
    condition     = length(var.availability_zones) >= 2 && length(var.availability_zones) <= 3 && length(distinct(var.availability_zones)) == length(var.availability_zones)
    error_message = "availability_zones: give 2 or 3 distinct zones (EKS and RDS subnet groups span two; network.tf splits the VPC for at most three)."
  }
  validation {
    condition     = alltrue([for az in var.availability_zones : startswith(az, var.region)])
    error_message = "availability_zones: every zone must be in var.region (e.g. us-east-1a for us-east-1); set both together."
  }
}

variable "name" {
  description = "Prefix of every resource name; also the EKS cluster's name."
  type        = string
  default     = "fastdistill"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,22}$", var.name))
    error_message = "name: 2-23 characters, lowercase letters, digits and '-', starting with a letter (it goes into bucket and database names)."
  }
}

variable "vpc_cidr" {
  description = "CIDR of the VPC; split into one private (nodes, pods, database) and one small public (NAT only) subnet per zone."
  type        = string
  default     = "10.40.0.0/16"
}

variable "kubernetes_version" {
  description = "EKS Kubernetes version (major.minor). The cluster autoscaler manifest uses the matching v<version>.0 image."
  type        = string
  default     = "1.33"
}

variable "endpoint_private_only" {
  description = "true: the API server is reachable only from inside the VPC (a VPN or bastion is then needed for kubectl and run.py). false: also from authorized_networks over the internet."
  type        = bool
  default     = false
}

variable "authorized_networks" {
  description = "CIDR blocks that may reach the public API server endpoint (your office/VPN, CI). Unused when endpoint_private_only is true."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for cidr in var.authorized_networks : can(cidrhost(cidr, 0)) && !endswith(cidr, "/0")])
    error_message = "authorized_networks: each entry must be a CIDR block narrower than /0 (e.g. 203.0.113.0/24); 0.0.0.0/0 would open the API server to the internet."
  }
  validation {
    condition     = var.endpoint_private_only || length(var.authorized_networks) > 0
    error_message = "authorized_networks: give at least one CIDR block while endpoint_private_only is false (EKS would otherwise open the public endpoint to 0.0.0.0/0)."
  }
}

variable "cluster_admin_arns" {
  description = "IAM principals (users or roles) given cluster-admin through EKS access entries, besides whoever runs `terraform apply` (it gets admin at creation)."
  type        = list(string)
  default     = []
}

variable "system_instance_type" {
  description = "CPU node group `system`: load_seeds, quality_gate, register_student, MLflow, the orchestrator pod, the cluster autoscaler."
  type        = string
  default     = "m6i.2xlarge"
}

variable "system_max_size" {
  description = "Upper bound of the CPU node group (it keeps at least one node for MLflow and the system pods)."
  type        = number
  default     = 3
}

variable "gpu_node_groups" {
  description = <<-EOT
    GPU node groups, keyed by the `pool` label the run config selects (configs/k8s_eks.yaml).
    Each scales from 0 (nothing is paid while no step runs) to max_size through the cluster
    autoscaler (manifests/cluster-autoscaler.yaml), is tainted nvidia.com/gpu=present:NoSchedule,
    and boots an EKS GPU AMI (NVIDIA driver and container toolkit; the device plugin is
    manifests/nvidia-device-plugin.yaml). capacity_type SPOT is usually far below the on-demand price (it floats) and can be taken
    away mid-step (the step's Job retries it). gpus_per_node must match the instance type and
    cover the steps' nvidia.com/gpu requests (teacher.tensor_parallel_size); the instance's memory
    must hold the steps' requests (gpu-train 64Gi, hence 128 GiB; gpu-inference 40Gi), and
    parameters.cluster.pools of configs/k8s_eks.yaml must describe these groups (the checks before a run read it).
  EOT
  type = map(object({
    instance_types = list(string)
    gpus_per_node  = number
    max_size       = number
    capacity_type  = string
    disk_size_gb   = number
    ami_type       = string
  }))
  default = {
    "gpu-inference" = {
      instance_types = ["g6.8xlarge"] # 1 x L4 24 GB, 32 vCPU, 128 GiB
      gpus_per_node  = 1
      max_size       = 2
      capacity_type  = "SPOT"
      disk_size_gb   = 200
      ami_type       = "AL2023_x86_64_NVIDIA"
    }
    "gpu-train" = {
      instance_types = ["g6e.4xlarge"] # 1 x L40S 48 GB, 16 vCPU, 128 GiB
      gpus_per_node  = 1
      max_size       = 1
      capacity_type  = "ON_DEMAND"
      disk_size_gb   = 200
      ami_type       = "AL2023_x86_64_NVIDIA"
    }
  }
  validation {
    condition     = alltrue([for g in values(var.gpu_node_groups) : contains(["ON_DEMAND", "SPOT"], g.capacity_type)])
    error_message = "gpu_node_groups[*].capacity_type: ON_DEMAND or SPOT."
  }
  validation {
    condition     = alltrue([for g in values(var.gpu_node_groups) : contains(["AL2023_x86_64_NVIDIA", "AL2_x86_64_GPU", "BOTTLEROCKET_x86_64_NVIDIA"], g.ami_type)])
    error_message = "gpu_node_groups[*].ami_type: a GPU AMI type (AL2023_x86_64_NVIDIA, AL2_x86_64_GPU or BOTTLEROCKET_x86_64_NVIDIA); a standard AMI has no NVIDIA driver."
  }
  validation {
    condition     = alltrue([for g in values(var.gpu_node_groups) : g.gpus_per_node >= 1 && g.max_size >= 1 && length(g.instance_types) >= 1])
    error_message = "gpu_node_groups[*]: gpus_per_node and max_size at least 1, and at least one instance type."
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
  description = "MLflow server image with psycopg2 and boto3 (docs/kubernetes.md builds it; empty: <registry>/<name>/mlflow:3.17.2)."
  type        = string
  default     = ""
}

variable "mlflow_username" {
  description = "MLflow basic-auth admin user the pipeline logs in as."
  type        = string
  default     = "fastdistill"
}

variable "ecr_tag_mutability" {
  description = "IMMUTABLE: a pushed tag can never point at another image. ZenML tags every build of a pipeline `<pipeline>-orchestrator` (and runs it by digest), so a rebuilt pipeline needs its own tag (settings.docker.image_tag) or MUTABLE here."
  type        = string
  default     = "IMMUTABLE"
  validation {
    condition     = contains(["IMMUTABLE", "MUTABLE"], var.ecr_tag_mutability)
    error_message = "ecr_tag_mutability: IMMUTABLE or MUTABLE."
  }
}

variable "db_instance_class" {
  description = "RDS instance class of MLflow's PostgreSQL."
  type        = string
  default     = "db.t4g.small"
}

variable "db_allocated_storage_gb" {
  description = "Initial gp3 storage of each database (grows automatically up to 5x)."
  type        = number
  default     = 20
}

variable "db_backup_retention_days" {
  description = "Days of automated backups (point-in-time recovery) of the databases."
  type        = number
  default     = 7
  validation {
    condition     = var.db_backup_retention_days >= 1 && var.db_backup_retention_days <= 35
    error_message = "db_backup_retention_days: 1 to 35 (0 would turn backups off)."
  }
}

variable "zenml_database" {
  description = "Also create an RDS MySQL database for a self-hosted ZenML server (ZenML's server store supports MySQL, not PostgreSQL). Not needed with ZenML Pro."
  type        = bool
  default     = false
}

variable "deletion_protection" {
  description = "Protect the databases from deletion (turn off, apply, then `terraform destroy` to tear everything down)."
  type        = bool
  default     = true
}

variable "log_retention_days" {
  description = "Retention of the control-plane, VPC flow and database logs in CloudWatch."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Tags put on every resource (provider default_tags; cost attribution)."
  type        = map(string)
  default     = { app = "fastdistill" }
}
