# Values the mocked aws provider returns for computed attributes the plan-level assertions read
# (everything else gets generated fake values). Used with override_during = plan, so they exist
# at plan time, as they would after the first apply.

mock_data "aws_caller_identity" {
  defaults = {
    account_id = "123456789012"
  }
}

mock_data "aws_partition" {
  defaults = {
    partition  = "aws"
    dns_suffix = "amazonaws.com"
  }
}

mock_resource "aws_eks_cluster" {
  defaults = {
    arn = "arn:aws:eks:us-east-1:123456789012:cluster/fastdistill"
    identity = [{
      oidc = [{ issuer = "https://oidc.eks.us-east-1.amazonaws.com/id/0123456789ABCDEF0123456789ABCDEF" }]
    }]
    vpc_config = {
      cluster_security_group_id = "sg-0c1a5e7c1a5e7c1a5"
    }
  }
}

mock_resource "aws_iam_openid_connect_provider" {
  defaults = {
    arn = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/0123456789ABCDEF0123456789ABCDEF"
  }
}

mock_resource "aws_iam_role" {
  defaults = {
    arn = "arn:aws:iam::123456789012:role/mocked"
  }
}

mock_resource "aws_launch_template" {
  defaults = {
    id             = "lt-0123456789abcdef0"
    latest_version = 1
  }
}

mock_resource "aws_kms_key" {
  defaults = {
    arn = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
  }
}

mock_resource "aws_ecr_repository" {
  defaults = {
    arn            = "arn:aws:ecr:us-east-1:123456789012:repository/fastdistill"
    repository_url = "123456789012.dkr.ecr.us-east-1.amazonaws.com/fastdistill"
  }
}

mock_resource "aws_eks_node_group" {
  defaults = {
    resources = [{
      autoscaling_groups              = [{ name = "eks-nodegroup-0a1b2c3d" }]
      remote_access_security_group_id = ""
    }]
  }
}

mock_resource "aws_db_instance" {
  defaults = {
    endpoint = "fastdistill-mlflow.c0ffee.us-east-1.rds.amazonaws.com:5432"
    master_user_secret = [{
      kms_key_id    = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
      secret_arn    = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-0a1b2c3d-AbCdEf"
      secret_status = "active"
    }]
  }
}

# No fixed values needed: listed so that their computed attributes (ids, ARNs) get generated fake
# values at plan time too.
mock_resource "aws_s3_bucket" {}
mock_resource "aws_subnet" {}
mock_resource "aws_vpc" {}
mock_resource "aws_security_group" {}
mock_resource "aws_secretsmanager_secret" {}
