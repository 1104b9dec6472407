terraform {
  # 1.9: variable validations that read other variables (authorized_networks vs endpoint_private_only).
  required_version = ">= 1.9"
  required_providers {
    # The only provider: the Kubernetes side is plain manifests (manifests/, rendered by the
    # kubernetes_manifests output), so a plan never needs to reach the cluster it creates.
    aws = { source = "hashicorp/aws", version = "~> 5.100" }
  }
  # State holds no password (RDS keeps the database's in Secrets Manager, MLflow's is put there by
  # hand), but it maps the whole account: keep it in a private, versioned, encrypted bucket, e.g.
  # backend "s3" { bucket = "<account>-tfstate" key = "fastdistill/eks.tfstate" region = "us-east-1" use_lockfile = true }
}

provider "aws" {
  region = var.region
  default_tags {
    tags = var.tags
  }
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  azs        = var.availability_zones
}
