variable "name" {
  description = "Name prefix for every resource (project-environment), from the root locals."
  type        = string
}

variable "partition" {
  description = "AWS partition (aws, aws-cn, aws-us-gov)."
  type        = string
}

variable "region" {
  description = "AWS region of the deployment."
  type        = string
}

variable "account_id" {
  description = "AWS account id (from aws_caller_identity)."
  type        = string
}

variable "shard_worker_zip" {
  description = "Path of the shard_worker deployment zip built by `make package`."
  type        = string
}

variable "layer_arns" {
  description = "Layer version ARNs, in order: AWS SDK for pandas (managed), then the project's dependency layer."
  type        = list(string)

  validation {
    condition     = length(var.layer_arns) <= 5
    error_message = "A Lambda function can use at most 5 layers."
  }
}

variable "kms_key_arn" {
  description = "Lake KMS key: S3 objects, environment variables, logs, the queue and the state machine."
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
  description = "ARN of the Athena results bucket (the plan step reads the prices with one query)."
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

variable "schedule" {
  description = "EventBridge schedule of the nightly run (UTC): after the US close, weekdays."
  type        = string
  default     = "cron(30 21 ? * MON-FRI *)"

  validation {
    condition     = can(regex("^cron\\(", var.schedule))
    error_message = "schedule must be an EventBridge cron() expression."
  }
}

variable "worker_memory_mb" {
  description = "Memory of the shard worker, MB (a 10,000-account shard peaks well under 1 GB)."
  type        = number
  default     = 2048
}

variable "worker_timeout_seconds" {
  description = "Timeout of one shard worker invocation, seconds (Lambda maximum 900)."
  type        = number
  default     = 900

  validation {
    condition     = var.worker_timeout_seconds > 0 && var.worker_timeout_seconds <= 900
    error_message = "worker_timeout_seconds must be 1-900."
  }
}

variable "max_concurrency" {
  description = "Shards rebalanced at once by the Distributed Map (also the worker's reserved concurrency)."
  type        = number
  default     = 100

  validation {
    condition     = var.max_concurrency >= 1 && var.max_concurrency <= 1000
    error_message = "max_concurrency must be 1-1000."
  }
}

variable "tolerated_failure_percentage" {
  description = "Share of shards that may fail (after retries) before the map fails; the finish step still refuses a run with a missing shard."
  type        = number
  default     = 0

  validation {
    condition     = var.tolerated_failure_percentage >= 0 && var.tolerated_failure_percentage <= 100
    error_message = "tolerated_failure_percentage must be 0-100."
  }
}

variable "shard_retry_attempts" {
  description = "Retries of a failed shard (exponential backoff with full jitter)."
  type        = number
  default     = 3
}

variable "log_retention_days" {
  description = "CloudWatch Logs retention of the worker's and the state machine's log groups."
  type        = number
  default     = 365
}

variable "alarm_actions" {
  description = "ARNs notified when an alarm fires (e.g. an SNS topic); empty for none."
  type        = list(string)
  default     = []
}
