variable "name" {
  description = "Name prefix for every resource (project-environment), from the root locals."
  type        = string
}

variable "partition" {
  description = "AWS partition (aws, aws-cn, aws-us-gov)."
  type        = string
}

variable "region" {
  description = "AWS region (from aws_region)."
  type        = string
}

variable "account_id" {
  description = "AWS account id (from aws_caller_identity)."
  type        = string
}

variable "kms_key_arn" {
  description = "Lake KMS key: the training set and code are read with it, the job's output and volume encrypted with it."
  type        = string
}

variable "lake_bucket_arn" {
  description = "ARN of the lake bucket."
  type        = string
}

variable "training_prefix" {
  description = "Key prefix of training jobs' inputs (the Athena UNLOAD of the training set, the job's code): read-only for the job (REBALANCER_SAGEMAKER_TRAINING_URI)."
  type        = string
  default     = "training"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9_-]*$", var.training_prefix))
    error_message = "training_prefix must be one lowercase path segment."
  }
}

variable "output_prefix" {
  description = "Key prefix SageMaker writes training jobs' model.tar.gz and output.tar.gz under: the job's only write (REBALANCER_SAGEMAKER_OUTPUT_URI)."
  type        = string
  default     = "models/training-jobs"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9_/-]*[a-z0-9]$", var.output_prefix))
    error_message = "output_prefix must be a key prefix without leading or trailing slash."
  }
}
