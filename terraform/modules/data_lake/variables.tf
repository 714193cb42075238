variable "name" {
  description = "Name prefix for every resource (project-environment), from the root locals."
  type        = string
}

variable "bucket_prefix" {
  description = "Prefix of the globally unique bucket names (name-account-region)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{2,40}[a-z0-9]$", var.bucket_prefix))
    error_message = "bucket_prefix must be 4-42 lower-case letters, digits or hyphens."
  }
}

variable "account_id" {
  description = "AWS account id the lake lives in (from aws_caller_identity)."
  type        = string
}

variable "region" {
  description = "AWS region the lake lives in (from aws_region)."
  type        = string
}

variable "partition" {
  description = "AWS partition (aws, aws-cn, aws-us-gov), from aws_partition."
  type        = string
}

variable "lake_prefix" {
  description = "Key prefix of the lake tables inside the lake bucket (REBALANCER_LAKE = s3://bucket/<prefix>)."
  type        = string
  default     = "lake"
}

variable "models_prefix" {
  description = "Key prefix of model artifacts inside the lake bucket."
  type        = string
  default     = "models"
}

variable "schemas_dir" {
  description = "Directory holding one JSON schema per lake table (the repo's schemas/)."
  type        = string
}

variable "sql_dir" {
  description = "Directory holding views/*.sql and queries/*.sql (the repo's sql/)."
  type        = string
}

variable "partition_projection_start" {
  description = "First dt (yyyy-MM-dd) partition projection enumerates; older objects are invisible to Athena."
  type        = string
  default     = "2000-01-01"

  validation {
    condition     = can(regex("^\\d{4}-\\d{2}-\\d{2}$", var.partition_projection_start))
    error_message = "partition_projection_start must be a yyyy-MM-dd date."
  }
}

variable "athena_bytes_scanned_cutoff" {
  description = "Per-query data-scanned limit of the Athena workgroup, in bytes (minimum 10 MB)."
  type        = number
  default     = 10737418240

  validation {
    condition     = var.athena_bytes_scanned_cutoff >= 10485760
    error_message = "Athena's minimum bytes-scanned cutoff is 10 MB (10485760 bytes)."
  }
}

variable "athena_results_expiration_days" {
  description = "Days before Athena query results are deleted from the results bucket."
  type        = number
  default     = 7

  validation {
    condition     = var.athena_results_expiration_days >= 1
    error_message = "athena_results_expiration_days must be at least 1."
  }
}

variable "noncurrent_version_expiration_days" {
  description = "Days a replaced (noncurrent) object version is kept before deletion."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1
    error_message = "noncurrent_version_expiration_days must be at least 1."
  }
}

variable "access_log_expiration_days" {
  description = "Days S3 server access logs are kept."
  type        = number
  default     = 365

  validation {
    condition     = var.access_log_expiration_days >= 1
    error_message = "access_log_expiration_days must be at least 1."
  }
}

variable "log_group_arn_patterns" {
  description = "CloudWatch log group ARN patterns allowed to encrypt with the lake key (Lambda and API Gateway logs)."
  type        = list(string)
  default     = []
}

variable "kms_deletion_window_days" {
  description = "Waiting period before the KMS key is deleted after destroy (7-30 days)."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_deletion_window_days >= 7 && var.kms_deletion_window_days <= 30
    error_message = "kms_deletion_window_days must be between 7 and 30."
  }
}

variable "force_destroy" {
  description = "Let terraform destroy delete non-empty buckets (all data is lost). Keep false outside throwaway environments."
  type        = bool
  default     = false
}

variable "max_book_shards" {
  description = "Household shards the Glue `shard` projection enumerates (0 .. n-1): at least the largest book's S = ceil(accounts / 10,000) (1,000 covers 10M accounts); at most 10,000 (shard=NNNN)."
  type        = number
  default     = 1000

  validation {
    condition     = var.max_book_shards >= 1 && var.max_book_shards <= 10000 && floor(var.max_book_shards) == var.max_book_shards
    error_message = "max_book_shards must be a whole number 1-10000."
  }
}
