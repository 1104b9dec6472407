# Plan-level invariants of the module, offline: the aws provider is mocked (mocks/aws.tfmock.hcl),
# so nothing is created and no credentials are needed. Run by tests/integration/test_terraform_eks.py.

mock_provider "aws" {
  source          = "./tests/mocks"
  override_during = plan
}

# Distinct ARNs for the two buckets, so that a policy naming the wrong one fails.
override_resource {
  target          = aws_s3_bucket.artifacts
  override_during = plan
  values = {
    arn = "arn:aws:s3:::fastdistill-123456789012-us-east-1-artifacts"
    id  = "fastdistill-123456789012-us-east-1-artifacts"
  }
}

override_resource {
  target          = aws_s3_bucket.access_logs
  override_during = plan
  values = {
    arn = "arn:aws:s3:::fastdistill-123456789012-us-east-1-access-logs"
    id  = "fastdistill-123456789012-us-east-1-access-logs"
  }
}

# Distinct role ARNs for the service accounts' roles, so that a manifest naming the wrong one fails.
override_resource {
  target          = aws_iam_role.irsa["runner"]
  override_during = plan
  values = {
    arn = "arn:aws:iam::123456789012:role/fastdistill-runner"
  }
}

override_resource {
  target          = aws_iam_role.irsa["mlflow"]
  override_during = plan
  values = {
    arn = "arn:aws:iam::123456789012:role/fastdistill-mlflow"
  }
}

variables {
  authorized_networks = ["203.0.113.0/24"]
}

run "gpu_node_groups_scale_from_zero_tainted_and_labelled" {
  command = plan

  assert {
    condition     = sort(keys(aws_eks_node_group.gpu)) == tolist(["gpu-inference", "gpu-train"])
    error_message = "expected the GPU node groups gpu-inference and gpu-train (the pools configs/k8s.yaml selects)"
  }
  assert {
    condition = alltrue([for g in aws_eks_node_group.gpu : length(g.taint) == 1 && alltrue([
      for t in g.taint : t.key == "nvidia.com/gpu" && t.value == "present" && t.effect == "NO_SCHEDULE"
    ])])
    error_message = "every GPU node group must carry exactly the taint nvidia.com/gpu=present:NO_SCHEDULE"
  }
  assert {
    condition     = alltrue([for name, g in aws_eks_node_group.gpu : g.labels["pool"] == name && length(g.labels) == 1])
    error_message = "every GPU node group must be labelled pool=<its name>"
  }
  assert {
    condition     = alltrue([for g in aws_eks_node_group.gpu : g.scaling_config[0].min_size == 0 && g.scaling_config[0].desired_size == 0 && g.scaling_config[0].max_size >= 1])
    error_message = "every GPU node group must scale from 0 (min_size = desired_size = 0, max_size >= 1)"
  }
  assert {
    condition     = alltrue([for g in aws_eks_node_group.gpu : contains(["AL2023_x86_64_NVIDIA", "AL2_x86_64_GPU", "BOTTLEROCKET_x86_64_NVIDIA"], g.ami_type)])
    error_message = "every GPU node group must boot a GPU AMI type (NVIDIA driver included)"
  }
  assert {
    condition     = aws_eks_node_group.gpu["gpu-inference"].capacity_type == "SPOT" && aws_eks_node_group.gpu["gpu-train"].capacity_type == "ON_DEMAND"
    error_message = "capacity types must follow var.gpu_node_groups (defaults: spot inference, on-demand training)"
  }
  assert {
    condition     = length(aws_eks_node_group.system.taint) == 0 && aws_eks_node_group.system.labels == tomap({ pool = "system" }) && aws_eks_node_group.system.scaling_config[0].min_size == 1
    error_message = "the system node group must be untainted, labelled pool=system and keep at least one node"
  }
  assert {
    condition = alltrue(flatten([for name, g in var.gpu_node_groups : [
      aws_autoscaling_group_tag.gpu_node_template["${name}/label"].tag[0].key == "k8s.io/cluster-autoscaler/node-template/label/pool",
      aws_autoscaling_group_tag.gpu_node_template["${name}/label"].tag[0].value == name,
      aws_autoscaling_group_tag.gpu_node_template["${name}/taint"].tag[0].key == "k8s.io/cluster-autoscaler/node-template/taint/nvidia.com/gpu",
      aws_autoscaling_group_tag.gpu_node_template["${name}/taint"].tag[0].value == "present:NoSchedule",
      aws_autoscaling_group_tag.gpu_node_template["${name}/resource"].tag[0].value == tostring(g.gpus_per_node),
    ]]))
    error_message = "each GPU group's Auto Scaling group must tell the cluster autoscaler its label, taint and GPUs (scale from 0)"
  }
  assert {
    condition = alltrue([for lt in aws_launch_template.nodes :
      lt.metadata_options[0].http_tokens == "required" && lt.metadata_options[0].http_put_response_hop_limit == 1 && lt.block_device_mappings[0].ebs[0].encrypted == "true"
    ])
    error_message = "every node must require IMDSv2 with one hop (pods cannot reach node credentials) and encrypt its root volume"
  }
}

run "artifact_bucket_is_private_versioned_encrypted_and_tls_only" {
  command = plan

  assert {
    condition = alltrue([for pab in [aws_s3_bucket_public_access_block.artifacts, aws_s3_bucket_public_access_block.access_logs] :
    pab.block_public_acls && pab.block_public_policy && pab.ignore_public_acls && pab.restrict_public_buckets])
    error_message = "both buckets must block public ACLs and policies (all four settings true)"
  }
  assert {
    condition     = aws_s3_bucket_versioning.artifacts.versioning_configuration[0].status == "Enabled"
    error_message = "the artifact bucket must be versioned"
  }
  assert {
    condition = alltrue([for rule in aws_s3_bucket_server_side_encryption_configuration.artifacts.rule : alltrue([
      for d in rule.apply_server_side_encryption_by_default : d.sse_algorithm == "aws:kms" && d.kms_master_key_id == aws_kms_key.main.arn
    ])])
    error_message = "the artifact bucket must be encrypted with the module's KMS key (SSE-KMS)"
  }
  assert {
    condition = anytrue([for s in jsondecode(aws_s3_bucket_policy.artifacts.policy).Statement :
      s.Effect == "Deny" && s.Principal == "*" && s.Action == "s3:*" && s.Condition.Bool["aws:SecureTransport"] == "false" &&
      toset(s.Resource) == toset([aws_s3_bucket.artifacts.arn, "${aws_s3_bucket.artifacts.arn}/*"])
    ])
    error_message = "the artifact bucket policy must deny every request without TLS (aws:SecureTransport false) on the bucket and its objects"
  }
  assert {
    condition = alltrue([for p in [aws_s3_bucket_policy.artifacts.policy, aws_s3_bucket_policy.access_logs.policy] :
    alltrue([for s in jsondecode(p).Statement : s.Effect == "Deny" || s.Principal != "*"])])
    error_message = "no bucket policy may allow anything to Principal \"*\""
  }
  assert {
    condition     = aws_kms_key.main.enable_key_rotation
    error_message = "the KMS key must rotate"
  }
}

run "databases_are_private_encrypted_and_backed_up" {
  command = plan

  variables {
    zenml_database = true
  }

  assert {
    condition = alltrue([for db in concat([aws_db_instance.mlflow], aws_db_instance.zenml) :
    db.publicly_accessible == false && db.storage_encrypted && db.kms_key_id == aws_kms_key.main.arn])
    error_message = "every database must be private (publicly_accessible false) and encrypted with the module's key"
  }
  assert {
    condition = alltrue([for db in concat([aws_db_instance.mlflow], aws_db_instance.zenml) :
    db.backup_retention_period > 0 && db.deletion_protection && !db.skip_final_snapshot])
    error_message = "every database must keep backups, be deletion-protected by default and leave a final snapshot"
  }
  assert {
    condition = alltrue([for db in concat([aws_db_instance.mlflow], aws_db_instance.zenml) :
    db.manage_master_user_password && db.password == null && db.master_user_secret_kms_key_id == aws_kms_key.main.arn])
    error_message = "database passwords must be generated and kept by RDS in Secrets Manager, never given to Terraform"
  }
  assert {
    condition     = aws_db_instance.mlflow.engine == "postgres" && aws_db_instance.zenml[0].engine == "mysql"
    error_message = "MLflow runs on PostgreSQL, the ZenML server on MySQL (its only server database)"
  }
  assert {
    condition     = toset(aws_db_subnet_group.main.subnet_ids) == toset([for s in aws_subnet.private : s.id]) && alltrue([for s in aws_subnet.public : !s.map_public_ip_on_launch])
    error_message = "the databases must live in the private subnets only"
  }
  assert {
    condition = alltrue([for r in aws_vpc_security_group_ingress_rule.db :
    r.referenced_security_group_id == aws_eks_cluster.main.vpc_config[0].cluster_security_group_id && r.cidr_ipv4 == null && r.cidr_ipv6 == null])
    error_message = "database ports must be open to the EKS cluster security group only, never to a CIDR"
  }
  assert {
    condition     = { for k, r in aws_vpc_security_group_ingress_rule.db : k => [r.from_port, r.to_port] } == { mysql = [3306, 3306], postgres = [5432, 5432] }
    error_message = "the database security group must open exactly 5432 (PostgreSQL) and 3306 (MySQL, with zenml_database)"
  }
}

run "nothing_is_open_to_the_internet" {
  command = plan

  assert {
    condition     = length(aws_security_group.db.ingress) == 0 && length(aws_security_group.db.egress) == 0 && length(aws_default_security_group.main.ingress) == 0 && length(aws_default_security_group.main.egress) == 0
    error_message = "no inline security-group rule may exist (the default group has none, the database group only its separate rule)"
  }
  assert {
    condition = alltrue([for r in aws_vpc_security_group_ingress_rule.db :
    !contains(["0.0.0.0/0"], coalesce(r.cidr_ipv4, "none")) && !contains(["::/0"], coalesce(r.cidr_ipv6, "none"))])
    error_message = "no ingress rule may open 5432 (or any port) to 0.0.0.0/0 or ::/0"
  }
  assert {
    condition = (
      aws_eks_cluster.main.vpc_config[0].endpoint_private_access &&
      aws_eks_cluster.main.vpc_config[0].endpoint_public_access &&
      toset(aws_eks_cluster.main.vpc_config[0].public_access_cidrs) == toset(["203.0.113.0/24"])
    )
    error_message = "the API server (443) must be reachable privately and publicly only from authorized_networks, never 0.0.0.0/0"
  }
  assert {
    condition     = toset(aws_eks_cluster.main.vpc_config[0].subnet_ids) == toset([for s in aws_subnet.private : s.id])
    error_message = "the cluster (control-plane interfaces and nodes) must use the private subnets"
  }
  assert {
    condition     = alltrue([for g in concat([aws_eks_node_group.system], values(aws_eks_node_group.gpu)) : toset(g.subnet_ids) == toset([for s in aws_subnet.private : s.id])])
    error_message = "every node group must be in the private subnets"
  }
}

run "cluster_encrypts_secrets_and_logs_the_control_plane" {
  command = plan

  assert {
    condition = alltrue([for e in aws_eks_cluster.main.encryption_config :
    e.resources == toset(["secrets"]) && e.provider[0].key_arn == aws_kms_key.main.arn])
    error_message = "Kubernetes secrets must be envelope-encrypted with the module's KMS key"
  }
  assert {
    condition     = aws_eks_cluster.main.enabled_cluster_log_types == toset(["api", "audit", "authenticator", "controllerManager", "scheduler"])
    error_message = "every control-plane log type must be enabled"
  }
  assert {
    condition     = aws_eks_cluster.main.access_config[0].authentication_mode == "API" && aws_eks_cluster.main.upgrade_policy[0].support_type == "STANDARD"
    error_message = "access entries (no aws-auth ConfigMap) and standard support only (no silent extended-support billing)"
  }
}

run "irsa_roles_trust_only_their_service_account" {
  command = plan

  assert {
    condition = alltrue([for key, role in aws_iam_role.irsa : length(jsondecode(role.assume_role_policy).Statement) == 1 && alltrue([
      for s in jsondecode(role.assume_role_policy).Statement :
      s.Effect == "Allow" && s.Action == "sts:AssumeRoleWithWebIdentity" &&
      s.Principal == { Federated = aws_iam_openid_connect_provider.eks.arn } && keys(s.Condition) == ["StringEquals"]
    ])])
    error_message = "each IRSA role must trust only the cluster's OIDC provider, with StringEquals conditions only"
  }
  assert {
    condition = {
      for key, role in aws_iam_role.irsa : key => jsondecode(role.assume_role_policy).Statement[0].Condition.StringEquals
      } == {
      for key, sa in {
        runner             = "zenml:fastdistill-runner"
        mlflow             = "mlflow:mlflow"
        cluster_autoscaler = "kube-system:cluster-autoscaler"
        vpc_cni            = "kube-system:aws-node"
        } : key => {
        "oidc.eks.us-east-1.amazonaws.com/id/0123456789ABCDEF0123456789ABCDEF:sub" = "system:serviceaccount:${sa}"
        "oidc.eks.us-east-1.amazonaws.com/id/0123456789ABCDEF0123456789ABCDEF:aud" = "sts.amazonaws.com"
      }
    }
    error_message = "each IRSA role must be assumable by exactly its named service account (sub) with audience sts.amazonaws.com (aud)"
  }
  assert {
    condition = alltrue([for who, prefix in { runner = "zenml", mlflow = "mlflow" } : alltrue([
      for s in jsondecode(who == "runner" ? aws_iam_role_policy.runner.policy : aws_iam_role_policy.mlflow.policy).Statement :
      !anytrue([for a in flatten([s.Action]) : startswith(a, "s3:")]) || s.Resource == "${aws_s3_bucket.artifacts.arn}/${prefix}/*" || s.Resource == aws_s3_bucket.artifacts.arn
    ])])
    error_message = "S3 permissions must be scoped to the artifact bucket: objects under zenml/ for the runner, mlflow/ for MLflow"
  }
  assert {
    condition = alltrue([for s in jsondecode(aws_iam_role_policy.runner.policy).Statement :
      !anytrue([for a in flatten([s.Action]) : startswith(a, "ecr:")]) ||
      (s.Resource == "*" && s.Action == "ecr:GetAuthorizationToken") || s.Resource == aws_ecr_repository.images["fastdistill"].arn
    ])
    error_message = "the runner's ECR pull/push must be limited to the pipeline repository (only the login token is account-wide)"
  }
  assert {
    condition     = toset(jsondecode(aws_iam_role_policy.mlflow.policy).Statement[3].Resource) == toset([aws_db_instance.mlflow.master_user_secret[0].secret_arn, aws_secretsmanager_secret.mlflow_password.arn])
    error_message = "MLflow may read exactly its database secret and its admin password"
  }
}

run "registry_scans_and_keeps_tags_immutable" {
  command = plan

  assert {
    condition     = sort(keys(aws_ecr_repository.images)) == tolist(["fastdistill", "fastdistill/mlflow"])
    error_message = "expected the pipeline and MLflow repositories"
  }
  assert {
    condition = alltrue([for r in aws_ecr_repository.images :
    r.image_scanning_configuration[0].scan_on_push && r.image_tag_mutability == "IMMUTABLE"])
    error_message = "every repository must scan on push and keep tags immutable"
  }
  assert {
    condition = alltrue([for r in aws_ecr_repository.images :
    r.encryption_configuration[0].encryption_type == "KMS" && r.encryption_configuration[0].kms_key == aws_kms_key.main.arn])
    error_message = "every repository must be encrypted with the module's KMS key"
  }
}

run "outputs_register_an_aws_stack_and_render_the_manifests" {
  command = plan

  assert {
    condition     = output.cloud == "aws" && output.project_id == "123456789012" && output.region == "us-east-1"
    error_message = "cloud must be aws; project_id carries the account ID"
  }
  assert {
    condition     = output.artifact_store_path == "s3://fastdistill-123456789012-us-east-1-artifacts/zenml"
    error_message = "the artifact store path must be the bucket's zenml/ prefix as an s3:// URL"
  }
  assert {
    condition     = output.container_registry_uri == "123456789012.dkr.ecr.us-east-1.amazonaws.com" && output.kubernetes_context == aws_eks_cluster.main.arn
    error_message = "registry URI must be the bare ECR host (ZenML's aws flavor refuses a '/'); the context is the cluster ARN update-kubeconfig names it"
  }
  assert {
    condition     = output.mlflow_tracking_uri == "http://mlflow.mlflow.svc.cluster.local:5000" && output.rds_endpoint == aws_db_instance.mlflow.endpoint
    error_message = "MLflow is reached inside the cluster; the RDS endpoint is host:port"
  }
  assert {
    condition = (
      length(regexall("[$][{]", output.kubernetes_manifests)) == 0 &&
      strcontains(output.kubernetes_manifests, "eks.amazonaws.com/role-arn: ${aws_iam_role.irsa["runner"].arn}") &&
      strcontains(output.kubernetes_manifests, "eks.amazonaws.com/role-arn: ${aws_iam_role.irsa["mlflow"].arn}") &&
      strcontains(output.kubernetes_manifests, "k8s.io/cluster-autoscaler/fastdistill") &&
      strcontains(output.kubernetes_manifests, "cluster-autoscaler:v1.33.0")
    )
    error_message = "the rendered manifests must carry the IRSA role ARNs and the cluster's name and version, with no placeholder left"
  }
}

run "private_endpoint_and_spot_training" {
  command = plan

  variables {
    endpoint_private_only = true
    authorized_networks   = []
    gpu_node_groups = {
      "gpu-inference" = { instance_types = ["g6.8xlarge"], gpus_per_node = 1, max_size = 1, capacity_type = "SPOT", disk_size_gb = 200, ami_type = "AL2023_x86_64_NVIDIA" }
      "gpu-train"     = { instance_types = ["g6e.12xlarge"], gpus_per_node = 4, max_size = 1, capacity_type = "SPOT", disk_size_gb = 400, ami_type = "AL2_x86_64_GPU" }
    }
  }

  assert {
    condition     = !aws_eks_cluster.main.vpc_config[0].endpoint_public_access && aws_eks_cluster.main.vpc_config[0].endpoint_private_access
    error_message = "endpoint_private_only must turn the public API endpoint off"
  }
  assert {
    condition     = alltrue([for g in aws_eks_node_group.gpu : g.capacity_type == "SPOT"]) && aws_eks_node_group.gpu["gpu-train"].ami_type == "AL2_x86_64_GPU"
    error_message = "capacity type and AMI type must follow var.gpu_node_groups"
  }
  assert {
    condition     = aws_autoscaling_group_tag.gpu_node_template["gpu-train/resource"].tag[0].value == "4" && aws_launch_template.nodes["gpu-train"].block_device_mappings[0].ebs[0].volume_size == 400
    error_message = "the autoscaler's GPU count and the root volume must follow var.gpu_node_groups"
  }
}
