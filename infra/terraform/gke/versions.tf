terraform {
  required_version = ">= 1.6"
  required_providers {
    google     = { source = "hashicorp/google", version = "~> 6.0" }
    kubernetes = { source = "hashicorp/kubernetes", version = "~> 2.31" }
    random     = { source = "hashicorp/random", version = "~> 3.6" }
  }
  # State holds generated passwords: keep it in a versioned, private bucket, e.g.
  # backend "gcs" { bucket = "<project>-tfstate" prefix = "fastdistill" }  (see docs/kubernetes.md)
}

provider "google" {
  project = var.project_id
  region  = var.region
}

data "google_client_config" "current" {}

# Talks to the cluster this configuration creates (its public endpoint is limited to authorized_networks).
provider "kubernetes" {
  host                   = "https://${google_container_cluster.main.endpoint}"
  token                  = data.google_client_config.current.access_token
  cluster_ca_certificate = base64decode(google_container_cluster.main.master_auth[0].cluster_ca_certificate)
}
