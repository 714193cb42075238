variable "region" {
  description = "AWS region to deploy into (e.g. eu-west-1). No default: choose it explicitly."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-west-1."
  }
}

variable "project" {
  description = "Project name: the first part of every resource name."
  type        = string
  default     = "rebalancer"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,14}[a-z0-9]$", var.project))
    error_message = "project must be 3-16 lower-case letters, digits or hyphens, starting with a letter."
  }
}

variable "environment" {
  description = "Environment name (dev, staging, prod...): the second part of every resource name."
  type        = string
  default     = "dev"

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,9}$", var.environment))
    error_message = "environment must be 2-10 lower-case letters or digits, starting with a letter."
  }
}

variable "extra_tags" {
  description = "Tags added to every resource, on top of Project, Environment and ManagedBy."
  type        = map(string)
  default     = {}
}

variable "dist_dir" {
  description = "Directory holding the build outputs of `make layer package` (relative to where terraform runs)."
  type        = string
  default     = "../dist"
}

variable "deps_layer_zip" {
  description = "Path of the project's dependency layer zip; empty means <dist_dir>/layer/rebalancer-deps-layer.zip."
  type        = string
  default     = ""
}

variable "fetch_market_data_zip" {
  description = "Path of the fetch_market_data zip; empty means <dist_dir>/lambda/fetch_market_data.zip."
  type        = string
  default     = ""
}

variable "compact_zip" {
  description = "Path of the compact zip; empty means <dist_dir>/lambda/compact.zip."
  type        = string
  default     = ""
}

variable "rebalance_portfolio_zip" {
  description = "Path of the rebalance_portfolio zip; empty means <dist_dir>/lambda/rebalance_portfolio.zip."
  type        = string
  default     = ""
}

variable "aws_sdk_pandas_layer_version" {
  description = "Version of the AWS-managed AWSSDKPandas-Python312 layer. Versions differ per region: `aws lambda list-layer-versions --layer-name arn:aws:lambda:<region>:336392948345:layer:AWSSDKPandas-Python312`."
  type        = number
  default     = 26

  validation {
    condition     = var.aws_sdk_pandas_layer_version >= 1 && floor(var.aws_sdk_pandas_layer_version) == var.aws_sdk_pandas_layer_version
    error_message = "aws_sdk_pandas_layer_version must be a positive integer."
  }
}

variable "aws_sdk_pandas_layer_account" {
  description = "Account publishing the AWS SDK for pandas layers (336392948345 in most regions; a few opt-in regions use another)."
  type        = string
  default     = "336392948345"

  validation {
    condition     = can(regex("^[0-9]{12}$", var.aws_sdk_pandas_layer_account))
    error_message = "aws_sdk_pandas_layer_account must be a 12-digit account id."
  }
}

variable "market_source" {
  description = "Market data provider of the scheduled fetch (REBALANCER_MARKET_SOURCE)."
  type        = string
  default     = "yfinance"

  validation {
    condition     = contains(["yfinance", "synthetic", "history"], var.market_source)
    error_message = "market_source must be yfinance, synthetic or history."
  }
}

variable "compact_schedule" {
  description = "EventBridge cron of the daily compaction, UTC (after midnight so yesterday is complete)."
  type        = string
  default     = "cron(20 0 * * ? *)"

  validation {
    condition     = can(regex("^cron\\(.+\\)$", var.compact_schedule))
    error_message = "compact_schedule must be an EventBridge cron(...) expression."
  }
}

variable "log_retention_days" {
  description = "CloudWatch Logs retention for every log group (one of CloudWatch's allowed values)."
  type        = number
  default     = 365

  validation {
    condition = contains(
      [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653],
      var.log_retention_days,
    )
    error_message = "log_retention_days must be a CloudWatch Logs retention value (1, 3, 5, 7, 14, 30, ... 3653)."
  }
}

variable "alarm_sns_topic_arn" {
  description = "SNS topic alarms notify; empty for alarms without actions (visible in the console only)."
  type        = string
  default     = ""

  validation {
    condition     = var.alarm_sns_topic_arn == "" || can(regex("^arn:aws[a-z-]*:sns:", var.alarm_sns_topic_arn))
    error_message = "alarm_sns_topic_arn must be empty or an SNS topic ARN."
  }
}

variable "athena_bytes_scanned_cutoff" {
  description = "Per-query data-scanned limit of the Athena workgroup, bytes (Athena minimum 10 MB)."
  type        = number
  default     = 10737418240

  validation {
    condition     = var.athena_bytes_scanned_cutoff >= 10485760
    error_message = "athena_bytes_scanned_cutoff must be at least 10485760 (10 MB)."
  }
}

variable "athena_results_expiration_days" {
  description = "Days before Athena query results are deleted."
  type        = number
  default     = 7

  validation {
    condition     = var.athena_results_expiration_days >= 1
    error_message = "athena_results_expiration_days must be at least 1."
  }
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete non-empty buckets and the workgroup's history. Data is lost: only for throwaway environments."
  type        = bool
  default     = false
}

variable "api_throttle_rate_limit" {
  description = "API requests per second per key (usage plan) and per method (stage)."
  type        = number
  default     = 10

  validation {
    condition     = var.api_throttle_rate_limit > 0
    error_message = "api_throttle_rate_limit must be positive."
  }
}

variable "api_throttle_burst_limit" {
  description = "API request burst per key and per method."
  type        = number
  default     = 20

  validation {
    condition     = var.api_throttle_burst_limit > 0
    error_message = "api_throttle_burst_limit must be positive."
  }
}

variable "api_daily_quota" {
  description = "API requests per day per key."
  type        = number
  default     = 10000

  validation {
    condition     = var.api_daily_quota > 0
    error_message = "api_daily_quota must be positive."
  }
}

variable "manage_api_gateway_account" {
  description = "Set the account-wide API Gateway CloudWatch Logs role (once per account and region). Turn off if another stack owns it."
  type        = bool
  default     = true
}

variable "enable_model_endpoint" {
  description = "Deploy the SageMaker endpoint. Upload the model artifact first (see README), then turn on."
  type        = bool
  default     = false
}

variable "model_artifact_key" {
  description = "Key of the model.tar.gz in the lake bucket the endpoint serves (under models/)."
  type        = string
  default     = "models/latest/model.tar.gz"

  validation {
    condition     = startswith(var.model_artifact_key, "models/") && endswith(var.model_artifact_key, ".tar.gz")
    error_message = "model_artifact_key must be a .tar.gz under models/."
  }
}

variable "endpoint_serverless" {
  description = "Serverless SageMaker endpoint (nothing billed at rest) when true; instance-backed when false."
  type        = bool
  default     = true
}

variable "endpoint_instance_type" {
  description = "Instance type of an instance-backed endpoint (endpoint_serverless = false)."
  type        = string
  default     = "ml.m5.large"
}

variable "endpoint_instance_count" {
  description = "Instance count of an instance-backed endpoint."
  type        = number
  default     = 1
}
