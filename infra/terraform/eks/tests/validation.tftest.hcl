# Inputs the module refuses at plan time (variable validations).

mock_provider "aws" {
  source          = "./tests/mocks"
  override_during = plan
}

run "refuses_an_api_server_open_to_the_internet" {
  command = plan
  variables {
    authorized_networks = ["0.0.0.0/0"]
  }
  expect_failures = [var.authorized_networks]
}

run "refuses_a_public_endpoint_without_authorized_networks" {
  command = plan
  variables {
    authorized_networks = []
  }
  expect_failures = [var.authorized_networks]
}

run "refuses_a_gpu_group_without_a_gpu_ami" {
  command = plan
  variables {
    authorized_networks = ["203.0.113.0/24"]
    gpu_node_groups = {
      "gpu-train" = { instance_types = ["g6e.4xlarge"], gpus_per_node = 1, max_size = 1, capacity_type = "ON_DEMAND", disk_size_gb = 200, ami_type = "AL2023_x86_64_STANDARD" }
    }
  }
  expect_failures = [var.gpu_node_groups]
}

run "refuses_databases_without_backups" {
  command = plan
  variables {
    authorized_networks      = ["203.0.113.0/24"]
    db_backup_retention_days = 0
  }
  expect_failures = [var.db_backup_retention_days]
}

run "refuses_zones_outside_the_region" {
  command = plan
  variables {
    authorized_networks = ["203.0.113.0/24"]
    region              = "us-west-2"
  }
  expect_failures = [var.availability_zones]
}
