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

variable "function_name" {
  description = "Name of the rebalance_portfolio function."
  type        = string
}

variable "rebalance_portfolio_zip" {
  description = "Path of the rebalance_portfolio deployment zip built by `make package`."
  type        = string
}

variable "layer_arns" {
  description = "Layer version ARNs, in order: AWS SDK for pandas (managed), then the project's dependency layer."
  type        = list(string)
}

variable "kms_key_arn" {
  description = "Lake KMS key: S3 objects, environment variables and logs."
  type        = string
}

variable "lake_uri" {
  description = "REBALANCER_LAKE: s3://<lake bucket>/<lake prefix>."
  type        = string
}

variable "lake_bucket_arn" {
  description = "ARN of the lake bucket."
  type        = string
}

variable "lake_prefix" {
  description = "Key prefix of the lake tables in the lake bucket."
  type        = string
}

variable "athena_results_bucket_arn" {
  description = "ARN of the Athena results bucket."
  type        = string
}

variable "glue_database" {
  description = "REBALANCER_GLUE_DATABASE."
  type        = string
}

variable "athena_workgroup" {
  description = "REBALANCER_ATHENA_WORKGROUP."
  type        = string
}

variable "athena_workgroup_arn" {
  description = "ARN of the Athena workgroup."
  type        = string
}

variable "sagemaker_endpoint_name" {
  description = "REBALANCER_SAGEMAKER_ENDPOINT; empty when no endpoint is deployed (the API then uses no model)."
  type        = string
  default     = ""
}

variable "stage_name" {
  description = "API Gateway stage name."
  type        = string
  default     = "v1"

  validation {
    condition     = can(regex("^[a-zA-Z0-9_]{1,64}$", var.stage_name))
    error_message = "stage_name must be 1-64 letters, digits or underscores."
  }
}

variable "throttle_rate_limit" {
  description = "Steady-state requests per second allowed per API key (usage plan) and per method (stage)."
  type        = number
  default     = 10

  validation {
    condition     = var.throttle_rate_limit > 0
    error_message = "throttle_rate_limit must be positive."
  }
}

variable "throttle_burst_limit" {
  description = "Burst of requests allowed per API key and per method."
  type        = number
  default     = 20

  validation {
    condition     = var.throttle_burst_limit > 0
    error_message = "throttle_burst_limit must be positive."
  }
}

variable "daily_quota" {
  description = "Requests per day allowed per API key."
  type        = number
  default     = 10000

  validation {
    condition     = var.daily_quota > 0
    error_message = "daily_quota must be positive."
  }
}

variable "manage_account_logging_role" {
  description = "Set the account-wide API Gateway CloudWatch role (needed once per account and region for execution logs). Turn off if something else in the account owns it."
  type        = bool
  default     = true
}

variable "reserved_concurrency" {
  description = "Reserved concurrency of rebalance_portfolio: caps cost and protects the account's pool."
  type        = number
  default     = 10

  validation {
    condition     = var.reserved_concurrency >= 1
    error_message = "reserved_concurrency must be at least 1."
  }
}

variable "memory_mb" {
  description = "Memory of rebalance_portfolio, MB."
  type        = number
  default     = 1024
}

variable "timeout_seconds" {
  description = "Timeout of rebalance_portfolio; API Gateway's integration timeout is 29 s."
  type        = number
  default     = 29

  validation {
    condition     = var.timeout_seconds >= 1 && var.timeout_seconds <= 29
    error_message = "timeout_seconds must be 1-29 (API Gateway gives up after 29 s)."
  }
}

variable "log_retention_days" {
  description = "CloudWatch Logs retention of the function's and the API's log groups."
  type        = number
  default     = 365
}

variable "alarm_actions" {
  description = "ARNs notified when an alarm fires; empty for none."
  type        = list(string)
  default     = []
}

variable "secret_recovery_window_days" {
  description = "Days a deleted API key secret can be restored (0 deletes at once; else 7-30)."
  type        = number
  default     = 7

  validation {
    condition     = var.secret_recovery_window_days == 0 || (var.secret_recovery_window_days >= 7 && var.secret_recovery_window_days <= 30)
    error_message = "secret_recovery_window_days must be 0 or 7-30."
  }
}
