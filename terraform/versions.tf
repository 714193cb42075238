terraform {
  required_version = ">= 1.6.0, < 2.0.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }

  # Remote state: copy to backend.tf (or uncomment here), create the bucket once by hand,
  # then `terraform init -migrate-state`. S3-native locking (use_lockfile) needs
  # Terraform >= 1.10 and replaces the older DynamoDB lock table.
  #
  # backend "s3" {
  #   bucket       = "my-terraform-state-bucket"
  #   key          = "rebalancer/terraform.tfstate"
  #   region       = "eu-west-1"
  #   encrypt      = true
  #   use_lockfile = true
  #   # kms_key_id = "arn:aws:kms:eu-west-1:111122223333:key/..."
  # }
}
