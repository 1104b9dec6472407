# Managed node groups: `system` (CPU, always at least one node) and one per gpu_node_groups entry
# (from 0 nodes, tainted). The names are the `pool` labels configs/k8s.yaml selects.

resource "aws_iam_role" "nodes" {
  name = "${var.name}-eks-nodes"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ec2.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

# Join the cluster and pull images; nothing else (pods get their permissions through IRSA, and the
# VPC CNI through its add-on's role).
resource "aws_iam_role_policy_attachment" "nodes" {
  for_each = toset([
    "AmazonEKSWorkerNodePolicy",
    "AmazonEC2ContainerRegistryPullOnly",
  ])
  role       = aws_iam_role.nodes.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/${each.value}"
}

locals {
  node_groups = merge(
    {
      system = {
        instance_types = [var.system_instance_type]
        ami_type       = "AL2023_x86_64_STANDARD"
        capacity_type  = "ON_DEMAND"
        disk_size_gb   = 50
      }
    },
    { for k, g in var.gpu_node_groups : k => { instance_types = g.instance_types, ami_type = g.ami_type, capacity_type = g.capacity_type, disk_size_gb = g.disk_size_gb } },
  )
  gpu_taint = { key = "nvidia.com/gpu", value = "present", effect = "NO_SCHEDULE" }
}

# Instance metadata only with IMDSv2 and one hop: pods cannot reach the node role's credentials.
# Root volumes are encrypted with the account's EBS key (a customer key would also need a grant
# for the Auto Scaling service-linked role).
resource "aws_launch_template" "nodes" {
  for_each               = local.node_groups
  name                   = "${var.name}-${each.key}"
  update_default_version = true

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      volume_size           = each.value.disk_size_gb
      volume_type           = "gp3"
      encrypted             = true
      delete_on_termination = true
    }
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(var.tags, { Name = "${var.name}-${each.key}", pool = each.key })
  }
  tag_specifications {
    resource_type = "volume"
    tags          = merge(var.tags, { Name = "${var.name}-${each.key}", pool = each.key })
  }
}

resource "aws_eks_node_group" "system" {
  cluster_name    = aws_eks_cluster.main.name
  node_group_name = "system"
  node_role_arn   = aws_iam_role.nodes.arn
  subnet_ids      = [for s in aws_subnet.private : s.id]
  ami_type        = local.node_groups.system.ami_type
  capacity_type   = local.node_groups.system.capacity_type
  instance_types  = local.node_groups.system.instance_types
  labels          = { pool = "system" }

  launch_template {
    id      = aws_launch_template.nodes["system"].id
    version = aws_launch_template.nodes["system"].latest_version
  }

  scaling_config {
    min_size     = 1
    desired_size = 1
    max_size     = var.system_max_size
  }

  update_config {
    max_unavailable = 1
  }

  node_repair_config {
    enabled = true
  }

  # The cluster autoscaler moves desired_size; Terraform must not move it back.
  lifecycle {
    ignore_changes = [scaling_config[0].desired_size]
  }

  depends_on = [aws_iam_role_policy_attachment.nodes, aws_eks_addon.vpc_cni]
}

resource "aws_eks_node_group" "gpu" {
  for_each        = var.gpu_node_groups
  cluster_name    = aws_eks_cluster.main.name
  node_group_name = each.key
  node_role_arn   = aws_iam_role.nodes.arn
  subnet_ids      = [for s in aws_subnet.private : s.id]
  ami_type        = each.value.ami_type
  capacity_type   = each.value.capacity_type
  instance_types  = each.value.instance_types
  labels          = { pool = each.key }

  # Only pods that tolerate it (the GPU steps in configs/k8s.yaml) land here.
  taint {
    key    = local.gpu_taint.key
    value  = local.gpu_taint.value
    effect = local.gpu_taint.effect
  }

  launch_template {
    id      = aws_launch_template.nodes[each.key].id
    version = aws_launch_template.nodes[each.key].latest_version
  }

  # From 0: a GPU node exists only while a step that requests one is pending or running.
  scaling_config {
    min_size     = 0
    desired_size = 0
    max_size     = each.value.max_size
  }

  update_config {
    max_unavailable = 1
  }

  node_repair_config {
    enabled = true
  }

  lifecycle {
    ignore_changes = [scaling_config[0].desired_size]
  }

  depends_on = [aws_iam_role_policy_attachment.nodes, aws_eks_addon.vpc_cni]
}

# Scale from 0: with no node to look at, the cluster autoscaler learns a group's label, taint and
# GPUs from these Auto Scaling group tags (EKS puts the auto-discovery tags there itself).
locals {
  autoscaler_node_templates = merge([
    for k, g in var.gpu_node_groups : {
      "${k}/label"    = { group = k, key = "k8s.io/cluster-autoscaler/node-template/label/pool", value = k }
      "${k}/taint"    = { group = k, key = "k8s.io/cluster-autoscaler/node-template/taint/${local.gpu_taint.key}", value = "${local.gpu_taint.value}:NoSchedule" }
      "${k}/resource" = { group = k, key = "k8s.io/cluster-autoscaler/node-template/resources/nvidia.com/gpu", value = tostring(g.gpus_per_node) }
    }
  ]...)
}

resource "aws_autoscaling_group_tag" "gpu_node_template" {
  for_each               = local.autoscaler_node_templates
  autoscaling_group_name = aws_eks_node_group.gpu[each.value.group].resources[0].autoscaling_groups[0].name
  tag {
    key                 = each.value.key
    value               = each.value.value
    propagate_at_launch = false
  }
}
