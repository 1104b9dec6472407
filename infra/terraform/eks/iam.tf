# IAM roles for service accounts (IRSA). Each role trusts the cluster's OIDC provider for exactly one
# Kubernetes service account (StringEquals on the token's sub and aud), and carries only what its
# pods do:
#   runner              step pods: objects under zenml/ in the bucket, push/pull the pipeline image
#   mlflow              the MLflow server: objects under mlflow/, read its two secrets
#   cluster_autoscaler  grows and shrinks this cluster's node groups (GPU groups from 0)
#   vpc_cni             the VPC CNI add-on (aws-node): pod network interfaces

locals {
  oidc_issuer = trimprefix(aws_eks_cluster.main.identity[0].oidc[0].issuer, "https://")
  service_accounts = {
    runner             = { namespace = var.namespace, name = var.runner_service_account }
    mlflow             = { namespace = "mlflow", name = "mlflow" }
    cluster_autoscaler = { namespace = "kube-system", name = "cluster-autoscaler" }
    vpc_cni            = { namespace = "kube-system", name = "aws-node" }
  }
}

resource "aws_iam_role" "irsa" {
  for_each = local.service_accounts
  name     = "${var.name}-${replace(each.key, "_", "-")}"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Federated = aws_iam_openid_connect_provider.eks.arn }
      Action    = "sts:AssumeRoleWithWebIdentity"
      Condition = {
        StringEquals = {
          "${local.oidc_issuer}:sub" = "system:serviceaccount:${each.value.namespace}:${each.value.name}"
          "${local.oidc_issuer}:aud" = "sts.amazonaws.com"
        }
      }
    }]
  })
}

locals {
  bucket_arn = aws_s3_bucket.artifacts.arn
  # Objects under one prefix; listing the bucket (s3fs and MLflow list before they read); the KMS
  # key only through S3.
  bucket_statements = {
    for who, prefix in { runner = "zenml", mlflow = "mlflow" } : who => [
      {
        Sid      = "ObjectsUnderPrefix"
        Effect   = "Allow"
        Action   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
        Resource = "${local.bucket_arn}/${prefix}/*"
      },
      {
        Sid      = "ListBucket"
        Effect   = "Allow"
        Action   = ["s3:ListBucket", "s3:GetBucketLocation", "s3:ListBucketMultipartUploads"]
        Resource = local.bucket_arn
      },
      {
        Sid       = "BucketKeyThroughS3"
        Effect    = "Allow"
        Action    = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource  = aws_kms_key.main.arn
        Condition = { StringEquals = { "kms:ViaService" = "s3.${var.region}.amazonaws.com" } }
      },
    ]
  }
}

resource "aws_iam_role_policy" "runner" {
  name = "artifacts-and-images"
  role = aws_iam_role.irsa["runner"].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(local.bucket_statements.runner, [
      {
        Sid      = "RegistryLogin"
        Effect   = "Allow"
        Action   = "ecr:GetAuthorizationToken" # has no resource-level form
        Resource = "*"
      },
      {
        Sid    = "PipelineImagePullPush"
        Effect = "Allow"
        Action = [
          "ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
          "ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:PutImage",
        ]
        Resource = aws_ecr_repository.images[var.name].arn
      },
    ])
  })
}

resource "aws_iam_role_policy" "mlflow" {
  name = "artifacts-and-secrets"
  role = aws_iam_role.irsa["mlflow"].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(local.bucket_statements.mlflow, [
      {
        Sid      = "DatabaseAndAdminPasswords"
        Effect   = "Allow"
        Action   = "secretsmanager:GetSecretValue"
        Resource = [aws_db_instance.mlflow.master_user_secret[0].secret_arn, aws_secretsmanager_secret.mlflow_password.arn]
      },
      {
        Sid       = "SecretKeyThroughSecretsManager"
        Effect    = "Allow"
        Action    = "kms:Decrypt"
        Resource  = aws_kms_key.main.arn
        Condition = { StringEquals = { "kms:ViaService" = "secretsmanager.${var.region}.amazonaws.com" } }
      },
    ])
  })
}

resource "aws_iam_role_policy" "cluster_autoscaler" {
  name = "scale-node-groups"
  role = aws_iam_role.irsa["cluster_autoscaler"].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid    = "Discover"
        Effect = "Allow"
        # Describe/Get calls have no resource-level form.
        Action = [
          "autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeAutoScalingInstances",
          "autoscaling:DescribeLaunchConfigurations", "autoscaling:DescribeScalingActivities",
          "autoscaling:DescribeTags", "ec2:DescribeImages", "ec2:DescribeInstanceTypes",
          "ec2:DescribeLaunchTemplateVersions", "ec2:GetInstanceTypesFromInstanceRequirements",
        ]
        Resource = "*"
      },
      {
        Sid      = "ReadNodeGroups"
        Effect   = "Allow"
        Action   = "eks:DescribeNodegroup"
        Resource = "arn:${local.partition}:eks:${var.region}:${local.account_id}:nodegroup/${aws_eks_cluster.main.name}/*"
      },
      {
        Sid      = "ScaleOnlyThisClustersGroups"
        Effect   = "Allow"
        Action   = ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"]
        Resource = "*"
        Condition = {
          StringEquals = { "aws:ResourceTag/k8s.io/cluster-autoscaler/${aws_eks_cluster.main.name}" = "owned" }
        }
      },
    ]
  })
}

resource "aws_iam_role_policy_attachment" "vpc_cni" {
  role       = aws_iam_role.irsa["vpc_cni"].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonEKS_CNI_Policy"
}
