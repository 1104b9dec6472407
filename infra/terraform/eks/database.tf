# PostgreSQL on RDS for MLflow's runs and registry (and, with zenml_database, MySQL for a
# self-hosted ZenML server: ZenML's server store speaks MySQL, not PostgreSQL). Private subnets
# only, reachable on their port from the cluster's security group and from nothing else; the
# master passwords are generated and rotated by RDS in Secrets Manager and never pass through
# Terraform.

resource "aws_db_subnet_group" "main" {
  name       = "${var.name}-db"
  subnet_ids = [for s in aws_subnet.private : s.id]
}

resource "aws_security_group" "db" {
  name        = "${var.name}-db"
  description = "Databases of ${var.name}: reachable only from the EKS cluster security group"
  vpc_id      = aws_vpc.main.id
  # Rules only as separate resources (below). No egress: a database starts no connection
  # (AWS's default allow-all egress rule is removed).
  ingress = []
  egress  = []
}

locals {
  db_ports = merge({ postgres = 5432 }, var.zenml_database ? { mysql = 3306 } : {})
}

# The cluster security group is the one EKS attaches to the control plane and to every managed node.
resource "aws_vpc_security_group_ingress_rule" "db" {
  for_each                     = local.db_ports
  security_group_id            = aws_security_group.db.id
  description                  = "${each.key} from the EKS cluster security group (nodes and pods)"
  ip_protocol                  = "tcp"
  from_port                    = each.value
  to_port                      = each.value
  referenced_security_group_id = aws_eks_cluster.main.vpc_config[0].cluster_security_group_id
}

resource "aws_db_parameter_group" "mlflow" {
  name   = "${var.name}-postgres17"
  family = "postgres17"
  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }
  parameter {
    name  = "log_connections"
    value = "1"
  }
  parameter {
    name  = "log_disconnections"
    value = "1"
  }
  parameter {
    name  = "log_min_duration_statement"
    value = "1000" # statements slower than 1 s
  }
}

resource "aws_cloudwatch_log_group" "db" {
  for_each          = toset(concat(["${var.name}-mlflow/postgresql", "${var.name}-mlflow/upgrade"], var.zenml_database ? ["${var.name}-zenml/error"] : []))
  name              = "/aws/rds/instance/${each.value}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_db_instance" "mlflow" {
  #checkov:skip=CKV_AWS_157:Multi-AZ doubles the instance cost; MLflow tolerates the minutes of a single-AZ restore from the automated backups
  #checkov:skip=CKV_AWS_118:enhanced monitoring needs another role and log stream for a database this small; CloudWatch's standard metrics and the exported logs remain
  #checkov:skip=CKV_AWS_353:AWS is folding Performance Insights into CloudWatch Database Insights (2026); a database this small is watched through its exported logs and the standard CloudWatch metrics
  identifier     = "${var.name}-mlflow"
  engine         = "postgres"
  engine_version = "17"
  instance_class = var.db_instance_class

  allocated_storage     = var.db_allocated_storage_gb
  max_allocated_storage = var.db_allocated_storage_gb * 5
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = aws_kms_key.main.arn

  db_name                       = "mlflow"
  username                      = "mlflow"
  manage_master_user_password   = true
  master_user_secret_kms_key_id = aws_kms_key.main.arn

  db_subnet_group_name   = aws_db_subnet_group.main.name
  vpc_security_group_ids = [aws_security_group.db.id]
  publicly_accessible    = false
  parameter_group_name   = aws_db_parameter_group.mlflow.name
  multi_az               = false

  iam_database_authentication_enabled = true
  backup_retention_period             = var.db_backup_retention_days
  deletion_protection                 = var.deletion_protection
  skip_final_snapshot                 = false
  final_snapshot_identifier           = "${var.name}-mlflow-final"
  copy_tags_to_snapshot               = true
  auto_minor_version_upgrade          = true
  enabled_cloudwatch_logs_exports     = ["postgresql", "upgrade"]

  depends_on = [aws_cloudwatch_log_group.db]
}

resource "aws_db_parameter_group" "zenml" {
  count  = var.zenml_database ? 1 : 0
  name   = "${var.name}-mysql84"
  family = "mysql8.4"
  parameter {
    name  = "require_secure_transport"
    value = "1"
  }
}

resource "aws_db_instance" "zenml" {
  #checkov:skip=CKV_AWS_157:Multi-AZ doubles the instance cost; the ZenML server tolerates the minutes of a single-AZ restore from the automated backups
  #checkov:skip=CKV_AWS_118:enhanced monitoring needs another role and log stream for a database this small; CloudWatch's standard metrics and the exported logs remain
  #checkov:skip=CKV_AWS_353:Performance Insights is not offered for RDS MySQL on db.t4g.micro/small (the default class here) and is being folded into CloudWatch Database Insights (2026)
  count          = var.zenml_database ? 1 : 0
  identifier     = "${var.name}-zenml"
  engine         = "mysql"
  engine_version = "8.4"
  instance_class = var.db_instance_class

  allocated_storage     = var.db_allocated_storage_gb
  max_allocated_storage = var.db_allocated_storage_gb * 5
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = aws_kms_key.main.arn

  db_name                       = "zenml"
  username                      = "zenml"
  manage_master_user_password   = true
  master_user_secret_kms_key_id = aws_kms_key.main.arn

  db_subnet_group_name   = aws_db_subnet_group.main.name
  vpc_security_group_ids = [aws_security_group.db.id]
  publicly_accessible    = false
  parameter_group_name   = aws_db_parameter_group.zenml[0].name
  multi_az               = false

  iam_database_authentication_enabled = true
  backup_retention_period             = var.db_backup_retention_days
  deletion_protection                 = var.deletion_protection
  skip_final_snapshot                 = false
  final_snapshot_identifier           = "${var.name}-zenml-final"
  copy_tags_to_snapshot               = true
  auto_minor_version_upgrade          = true
  enabled_cloudwatch_logs_exports     = ["error"]

  depends_on = [aws_cloudwatch_log_group.db]
}

# MLflow's basic-auth admin password. Terraform creates the (empty) secret only: you put a
# generated value into it once (docs/kubernetes.md), so the password is in no plan and no state.
resource "aws_secretsmanager_secret" "mlflow_password" {
  #checkov:skip=CKV2_AWS_57:MLflow keeps its admin password in its own auth database; rotating the secret would need a Lambda that also changes it there
  name                    = "${var.name}-mlflow-password"
  description             = "MLflow basic-auth password of user ${var.mlflow_username} (put by hand, read by the MLflow pod and by run.py users)"
  kms_key_id              = aws_kms_key.main.arn
  recovery_window_in_days = 7
}
