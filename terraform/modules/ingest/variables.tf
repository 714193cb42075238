variable "name" {
  description = "Name prefix for every resource (project-environment), from the root locals."
  type        = string
}

variable "account_id" {
  description = "AWS account id (from aws_caller_identity)."
  type        = string
}

variable "function_names" {
  description = "Function names by role: fetch_market_data and compact."
  type        = map(string)

  validation {
    condition     = alltrue([for k in ["fetch_market_data", "compact"] : contains(keys(var.function_names), k)])
    error_message = "function_names needs fetch_market_data and compact."
  }
}

variable "fetch_market_data_zip" {
  description = "Path of the fetch_market_data deployment zip built by `make package`."
  type        = string
}

variable "compact_zip" {
  description = "Path of the compact deployment zip built by `make package`."
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
  description = "Lake KMS key: S3 objects, environment variables, logs and the dead-letter queue."
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

variable "glue_database" {
  description = "REBALANCER_GLUE_DATABASE."
  type        = string
}

variable "athena_workgroup" {
  description = "REBALANCER_ATHENA_WORKGROUP."
  type        = string
}

variable "market_source" {
  description = "REBALANCER_MARKET_SOURCE for the scheduled fetch."
  type        = string
  default     = "yfinance"

  validation {
    condition     = contains(["yfinance", "synthetic", "history"], var.market_source)
    error_message = "market_source must be yfinance, synthetic or history."
  }
}

variable "compact_schedule" {
  description = "EventBridge schedule of the daily compaction (UTC), after midnight so yesterday is complete."
  type        = string
  default     = "cron(20 0 * * ? *)"

  validation {
    condition     = can(regex("^cron\\(", var.compact_schedule))
    error_message = "compact_schedule must be an EventBridge cron() expression."
  }
}

variable "log_retention_days" {
  description = "CloudWatch Logs retention of the functions' log groups."
  type        = number
  default     = 365
}

variable "alarm_actions" {
  description = "ARNs notified when an alarm fires (e.g. an SNS topic); empty for none."
  type        = list(string)
  default     = []
}

variable "fetch_memory_mb" {
  description = "Memory of fetch_market_data, MB."
  type        = number
  default     = 512
}

variable "fetch_timeout_seconds" {
  description = "Timeout of fetch_market_data; below the 5-minute cadence so runs cannot overlap."
  type        = number
  default     = 240

  validation {
    condition     = var.fetch_timeout_seconds > 0 && var.fetch_timeout_seconds < 300
    error_message = "fetch_timeout_seconds must be under 300 (the schedule is every 5 minutes)."
  }
}

variable "compact_memory_mb" {
  description = "Memory of compact, MB."
  type        = number
  default     = 1024
}

variable "compact_timeout_seconds" {
  description = "Timeout of compact, seconds (Lambda maximum 900)."
  type        = number
  default     = 900

  validation {
    condition     = var.compact_timeout_seconds > 0 && var.compact_timeout_seconds <= 900
    error_message = "compact_timeout_seconds must be 1-900."
  }
}
