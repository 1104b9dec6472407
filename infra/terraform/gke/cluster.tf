resource "google_container_cluster" "main" {
  #checkov:skip=CKV_GCP_65:Google Groups for RBAC needs a Workspace or Cloud Identity domain, which an empty project lacks; set var.rbac_security_group to turn it on
  #checkov:skip=CKV_GCP_12:NetworkPolicies are enforced by Dataplane V2 (datapath_provider ADVANCED_DATAPATH); the legacy network_policy block is refused with it
  name     = var.name
  location = var.region
  # Node pools are managed below; the default pool is removed once the cluster exists.
  remove_default_node_pool = true
  initial_node_count       = 1
  node_locations           = var.zones
  network                  = google_compute_network.main.id
  subnetwork               = google_compute_subnetwork.nodes.id
  deletion_protection      = var.deletion_protection
  resource_labels          = var.labels

  networking_mode = "VPC_NATIVE"
  ip_allocation_policy {
    cluster_secondary_range_name  = "pods"
    services_secondary_range_name = "services"
  }

  private_cluster_config {
    enable_private_nodes    = true
    enable_private_endpoint = false # reachable from authorized_networks only, so run.py works from a laptop
    master_ipv4_cidr_block  = var.master_cidr
  }

  master_authorized_networks_config {
    dynamic "cidr_blocks" {
      for_each = var.authorized_networks
      content {
        cidr_block   = cidr_blocks.value.cidr_block
        display_name = cidr_blocks.value.display_name
      }
    }
  }

  master_auth {
    client_certificate_config {
      issue_client_certificate = false
    }
  }

  workload_identity_config {
    workload_pool = "${var.project_id}.svc.id.goog"
  }

  release_channel {
    channel = "REGULAR"
  }

  # Dataplane V2 enforces NetworkPolicies.
  datapath_provider           = "ADVANCED_DATAPATH"
  enable_intranode_visibility = true
  enable_shielded_nodes       = true
  enable_legacy_abac          = false

  binary_authorization {
    evaluation_mode = "PROJECT_SINGLETON_POLICY_ENFORCE"
  }

  dynamic "authenticator_groups_config" {
    for_each = var.rbac_security_group == null ? [] : [var.rbac_security_group]
    content {
      security_group = authenticator_groups_config.value
    }
  }

  logging_config {
    enable_components = ["SYSTEM_COMPONENTS", "WORKLOADS"]
  }
  monitoring_config {
    enable_components = ["SYSTEM_COMPONENTS"]
  }

  node_config {
    service_account = google_service_account.nodes.email
    oauth_scopes    = ["https://www.googleapis.com/auth/cloud-platform"]
    shielded_instance_config {
      enable_secure_boot          = true
      enable_integrity_monitoring = true
    }
    workload_metadata_config {
      mode = "GKE_METADATA"
    }
    metadata = { disable-legacy-endpoints = "true" }
  }
}

locals {
  node_defaults = {
    image_type = "COS_CONTAINERD"
    metadata   = { disable-legacy-endpoints = "true" }
  }
}

resource "google_container_node_pool" "system" {
  name           = "system"
  cluster        = google_container_cluster.main.id
  node_locations = var.zones

  autoscaling {
    total_min_node_count = 1
    total_max_node_count = var.system_max_nodes
  }

  management {
    auto_repair  = true
    auto_upgrade = true
  }

  node_config {
    machine_type    = var.system_machine_type
    image_type      = local.node_defaults.image_type
    service_account = google_service_account.nodes.email
    oauth_scopes    = ["https://www.googleapis.com/auth/cloud-platform"]
    labels          = merge(var.labels, { pool = "system" })
    metadata        = local.node_defaults.metadata

    shielded_instance_config {
      enable_secure_boot          = true
      enable_integrity_monitoring = true
    }
    workload_metadata_config {
      mode = "GKE_METADATA"
    }
  }
}

resource "google_container_node_pool" "gpu" {
  for_each       = var.gpu_pools
  name           = each.key
  cluster        = google_container_cluster.main.id
  node_locations = var.zones

  # From 0: a GPU node exists only while a step that requests one is pending or running.
  autoscaling {
    total_min_node_count = 0
    total_max_node_count = each.value.max_nodes
  }

  management {
    auto_repair  = true
    auto_upgrade = true
  }

  node_config {
    machine_type    = each.value.machine_type
    image_type      = local.node_defaults.image_type
    disk_size_gb    = each.value.disk_size_gb
    disk_type       = "pd-ssd"
    spot            = each.value.spot
    service_account = google_service_account.nodes.email
    oauth_scopes    = ["https://www.googleapis.com/auth/cloud-platform"]
    labels          = merge(var.labels, { pool = each.key })
    metadata        = local.node_defaults.metadata

    guest_accelerator {
      type  = each.value.accelerator
      count = each.value.gpus_per_node
      gpu_driver_installation_config {
        gpu_driver_version = each.value.driver_version
      }
    }

    # Only pods that tolerate it (the GPU steps in configs/k8s.yaml) land here.
    taint {
      key    = "nvidia.com/gpu"
      value  = "present"
      effect = "NO_SCHEDULE"
    }

    shielded_instance_config {
      enable_secure_boot          = true
      enable_integrity_monitoring = true
    }
    workload_metadata_config {
      mode = "GKE_METADATA"
    }
  }
}
