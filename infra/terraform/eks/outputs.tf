# Read by `python run.py stack k8s --outputs outputs.json` (fastdistill/infra/k8s_stack.py: AwsOutputs):
# the names of ../gke/outputs.tf with cloud = "aws", then what the AWS side adds. No output carries a
# secret: MLflow's password is in Secrets Manager (mlflow_password_secret), the database's too.

locals {
  registry_uri = split("/", aws_ecr_repository.images[var.name].repository_url)[0]
  mlflow_image = var.mlflow_image != "" ? var.mlflow_image : "${aws_ecr_repository.images["${var.name}/mlflow"].repository_url}:3.17.2"
  # Every value a manifest under manifests/ is rendered with; each key is also an output below,
  # and manifests/*.yaml name it in upper case (${RUNNER_ROLE_ARN} is output runner_role_arn).
  manifest_values = {
    region                      = var.region
    cluster_name                = aws_eks_cluster.main.name
    kubernetes_version          = aws_eks_cluster.main.version
    kubernetes_namespace        = var.namespace
    runner_service_account      = var.runner_service_account
    runner_role_arn             = aws_iam_role.irsa["runner"].arn
    mlflow_role_arn             = aws_iam_role.irsa["mlflow"].arn
    cluster_autoscaler_role_arn = aws_iam_role.irsa["cluster_autoscaler"].arn
    mlflow_image                = local.mlflow_image
    mlflow_username             = var.mlflow_username
    mlflow_password_secret      = aws_secretsmanager_secret.mlflow_password.name
    rds_endpoint                = aws_db_instance.mlflow.endpoint
    rds_master_secret_arn       = aws_db_instance.mlflow.master_user_secret[0].secret_arn
    artifact_bucket             = aws_s3_bucket.artifacts.bucket
  }
}

output "cloud" {
  description = "Variant that produced these outputs."
  value       = "aws"
}

output "project_id" {
  description = "AWS account ID (the field GKE fills with its project; StackOutputs reads this name)."
  value       = local.account_id
}

output "account_id" {
  description = "AWS account ID."
  value       = local.account_id
}

output "region" {
  description = "Region of the cluster, bucket, registry and databases."
  value       = local.manifest_values.region
}

output "cluster_name" {
  description = "EKS cluster name."
  value       = local.manifest_values.cluster_name
}

output "kubernetes_version" {
  description = "Kubernetes version of the cluster (the cluster autoscaler's image follows it)."
  value       = local.manifest_values.kubernetes_version
}

output "kubernetes_context" {
  description = "kubeconfig context `aws eks update-kubeconfig` creates for this cluster (its ARN, unless --alias is given)."
  value       = aws_eks_cluster.main.arn
}

output "kubeconfig_command" {
  description = "Creates the kubernetes_context entry in ~/.kube/config."
  value       = "aws eks update-kubeconfig --region ${var.region} --name ${aws_eks_cluster.main.name}"
}

output "kubernetes_namespace" {
  description = "Namespace of the pipeline pods (created by manifests/pipelines.yaml)."
  value       = local.manifest_values.kubernetes_namespace
}

output "runner_service_account" {
  description = "Kubernetes service account of the step pods (IRSA: runner_role_arn)."
  value       = local.manifest_values.runner_service_account
}

output "runner_role_arn" {
  description = "IAM role of the step pods: objects under zenml/, the pipeline image."
  value       = local.manifest_values.runner_role_arn
}

output "mlflow_role_arn" {
  description = "IAM role of the MLflow server: objects under mlflow/, its two secrets."
  value       = local.manifest_values.mlflow_role_arn
}

output "cluster_autoscaler_role_arn" {
  description = "IAM role of the cluster autoscaler."
  value       = local.manifest_values.cluster_autoscaler_role_arn
}

output "artifact_bucket" {
  description = "S3 bucket of ZenML's (zenml/) and MLflow's (mlflow/) artifacts."
  value       = local.manifest_values.artifact_bucket
}

output "artifact_store_path" {
  description = "ZenML artifact store path."
  value       = "s3://${aws_s3_bucket.artifacts.bucket}/zenml"
}

output "container_registry_uri" {
  description = "ECR registry (ZenML's aws container registry takes the host alone; the pipeline image goes to <uri>/<name>)."
  value       = local.registry_uri
}

output "pipeline_repository_url" {
  description = "ECR repository of the pipeline images (settings.docker.target_repository in the run configs)."
  value       = aws_ecr_repository.images[var.name].repository_url
}

output "mlflow_image" {
  description = "MLflow server image the manifest runs (build and push it first: docs/kubernetes.md)."
  value       = local.manifest_values.mlflow_image
}

output "mlflow_tracking_uri" {
  description = "MLflow inside the cluster (step pods); from a laptop: kubectl -n mlflow port-forward svc/mlflow 5000."
  value       = "http://mlflow.mlflow.svc.cluster.local:5000"
}

output "mlflow_username" {
  description = "MLflow basic-auth user."
  value       = local.manifest_values.mlflow_username
}

output "mlflow_password_secret" {
  description = "Secrets Manager secret holding MLflow's password (put it there once; export it as MLFLOW_TRACKING_PASSWORD)."
  value       = local.manifest_values.mlflow_password_secret
}

output "rds_endpoint" {
  description = "MLflow's PostgreSQL, host:port (private subnets only)."
  value       = local.manifest_values.rds_endpoint
}

output "rds_master_secret_arn" {
  description = "Secrets Manager secret (managed and rotated by RDS) with the database's user and password."
  value       = local.manifest_values.rds_master_secret_arn
}

output "zenml_database_endpoint" {
  description = "MySQL for a self-hosted ZenML server, host:port (null unless zenml_database); its password is in zenml_database_secret_arn."
  value       = var.zenml_database ? aws_db_instance.zenml[0].endpoint : null
}

output "zenml_database_secret_arn" {
  description = "Secrets Manager secret (managed by RDS) of the ZenML database's user and password (null unless zenml_database)."
  value       = var.zenml_database ? aws_db_instance.zenml[0].master_user_secret[0].secret_arn : null
}

output "kubernetes_manifests" {
  description = "manifests/*.yaml rendered with the values above: `terraform output -raw kubernetes_manifests | kubectl apply -f -`."
  value = join("\n---\n", [
    for f in sort(fileset("${path.module}/manifests", "*.yaml")) :
    templatefile("${path.module}/manifests/${f}", { for k, v in local.manifest_values : upper(k) => v })
  ])
}
