# The nightly `recommend --all` on a distributed engine (issue 15): the batch_run module's
# Step Functions state machine fans a Distributed Map out over the book's household shards,
# one shard_worker invocation per shard (rebalancer.usecases._batch), scheduled after the close.
# Kept in its own file (variables and outputs included) so the batch wiring is one unit.

locals {
  shard_worker_zip = coalesce(var.shard_worker_zip, "${var.dist_dir}/lambda/shard_worker.zip")
}

module "batch_run" {
  source = "./modules/batch_run"

  name                         = local.name
  partition                    = local.partition
  region                       = local.region
  account_id                   = local.account_id
  shard_worker_zip             = local.shard_worker_zip
  layer_arns                   = local.layer_arns
  kms_key_arn                  = module.data_lake.kms_key_arn
  lake_uri                     = module.data_lake.lake_uri
  lake_bucket_arn              = module.data_lake.lake_bucket_arn
  lake_prefix                  = module.data_lake.lake_prefix
  athena_results_bucket_arn    = module.data_lake.athena_results_bucket_arn
  glue_database                = module.data_lake.glue_database
  athena_workgroup             = module.data_lake.athena_workgroup
  athena_workgroup_arn         = module.data_lake.athena_workgroup_arn
  schedule                     = var.batch_schedule
  worker_memory_mb             = var.batch_worker_memory_mb
  max_concurrency              = var.batch_max_concurrency
  tolerated_failure_percentage = var.batch_tolerated_failure_percentage
  log_retention_days           = var.log_retention_days
  alarm_actions                = local.alarm_actions
}

variable "shard_worker_zip" {
  description = "Path of the shard_worker zip; empty means <dist_dir>/lambda/shard_worker.zip."
  type        = string
  default     = ""
}

variable "max_book_shards" {
  description = "Household shards Glue's `shard` partition projection enumerates: at least the largest book's S = ceil(accounts / 10,000) (1,000 covers 10M accounts)."
  type        = number
  default     = 1000

  validation {
    condition     = var.max_book_shards >= 1 && var.max_book_shards <= 10000 && floor(var.max_book_shards) == var.max_book_shards
    error_message = "max_book_shards must be a whole number 1-10000."
  }
}

variable "batch_schedule" {
  description = "EventBridge schedule of the nightly recommend --all (UTC): after the US close, weekdays."
  type        = string
  default     = "cron(30 21 ? * MON-FRI *)"

  validation {
    condition     = can(regex("^cron\\(", var.batch_schedule))
    error_message = "batch_schedule must be an EventBridge cron() expression."
  }
}

variable "batch_worker_memory_mb" {
  description = "Memory of the shard worker Lambda, MB (a 10,000-account shard peaks well under 1 GB)."
  type        = number
  default     = 2048

  validation {
    condition     = var.batch_worker_memory_mb >= 128 && var.batch_worker_memory_mb <= 10240
    error_message = "batch_worker_memory_mb must be 128-10240."
  }
}

variable "batch_max_concurrency" {
  description = "Shards rebalanced at once by the Distributed Map (also the worker's reserved concurrency, minus 2)."
  type        = number
  default     = 100

  validation {
    condition     = var.batch_max_concurrency >= 1 && var.batch_max_concurrency <= 1000
    error_message = "batch_max_concurrency must be 1-1000."
  }
}

variable "batch_tolerated_failure_percentage" {
  description = "Share of shards that may fail after retries before the map fails (the finish step still refuses a run with a missing shard)."
  type        = number
  default     = 0

  validation {
    condition     = var.batch_tolerated_failure_percentage >= 0 && var.batch_tolerated_failure_percentage <= 100
    error_message = "batch_tolerated_failure_percentage must be 0-100."
  }
}

output "batch_state_machine_arn" {
  description = "ARN of the nightly batch state machine (start it by hand with `aws stepfunctions start-execution`)."
  value       = module.batch_run.state_machine_arn
}

output "batch_dead_letter_queue_url" {
  description = "Dead-letter queue of the batch (failed scheduled starts, failed shards)."
  value       = module.batch_run.dead_letter_queue_url
}
