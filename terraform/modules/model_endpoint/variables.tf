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
  description = "Lake KMS key: model artifacts (SSE-KMS) and endpoint storage."
  type        = string
}

variable "lake_bucket" {
  description = "Name of the lake bucket; artifacts live under <models_prefix>/."
  type        = string
}

variable "lake_bucket_arn" {
  description = "ARN of the lake bucket."
  type        = string
}

variable "models_prefix" {
  description = "Key prefix of model artifacts in the lake bucket; the endpoint's role can read only this prefix."
  type        = string
  default     = "models"
}

variable "model_artifact_key" {
  description = "Key of the model.tar.gz to serve (SageMaker XGBoost layout: one file named xgboost-model)."
  type        = string
  default     = "models/latest/model.tar.gz"

  validation {
    condition     = startswith(var.model_artifact_key, "models/") && endswith(var.model_artifact_key, ".tar.gz")
    error_message = "model_artifact_key must be a .tar.gz under models/."
  }
}

variable "inference_sourcedir" {
  description = "Local path of the inference script's sourcedir.tar.gz (inference.py + serving.py), built by `make package`."
  type        = string

  validation {
    condition     = endswith(var.inference_sourcedir, ".tar.gz")
    error_message = "inference_sourcedir must be a .tar.gz (make package writes dist/sagemaker/sourcedir.tar.gz)."
  }
}

variable "serverless" {
  description = "Serverless endpoint (pay per request, nothing at rest) when true; instance-backed when false."
  type        = bool
  default     = true
}

variable "serverless_memory_mb" {
  description = "Memory of the serverless endpoint: 1024-6144 in steps of 1024."
  type        = number
  default     = 2048

  validation {
    condition     = contains([1024, 2048, 3072, 4096, 5120, 6144], var.serverless_memory_mb)
    error_message = "serverless_memory_mb must be one of 1024, 2048, 3072, 4096, 5120, 6144."
  }
}

variable "serverless_max_concurrency" {
  description = "Maximum concurrent invocations of the serverless endpoint (1-200)."
  type        = number
  default     = 5

  validation {
    condition     = var.serverless_max_concurrency >= 1 && var.serverless_max_concurrency <= 200
    error_message = "serverless_max_concurrency must be 1-200."
  }
}

variable "instance_type" {
  description = "Instance type when serverless = false. Use one without local NVMe storage (not *d.*): KMS volume encryption is refused on those."
  type        = string
  default     = "ml.m5.large"

  validation {
    condition     = can(regex("^ml\\.[a-z0-9]+\\.[a-z0-9]+$", var.instance_type)) && !can(regex("^ml\\.[a-z0-9]+d\\.", var.instance_type))
    error_message = "instance_type must look like ml.m5.large and have no local instance storage (no *d.* families)."
  }
}

variable "instance_count" {
  description = "Initial instance count when serverless = false."
  type        = number
  default     = 1

  validation {
    condition     = var.instance_count >= 1
    error_message = "instance_count must be at least 1."
  }
}
