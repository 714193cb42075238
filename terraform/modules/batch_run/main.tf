# The nightly `recommend --all` on a distributed engine: a Step Functions state machine plans
# the run (book version, as-of and prices fixed once), fans a Distributed Map out over the
# book manifest's household shards (one shard_worker invocation per shard, the same
# stage_shard the local loop runs), then a final state writes the run's object last
# (rebalancer.usecases._batch). Scheduled by EventBridge after the close.

locals {
  function_name = "${var.name}-shard-worker"

  worker_environment = {
    REBALANCER_BACKEND           = "aws"
    REBALANCER_LAKE              = var.lake_uri
    REBALANCER_GLUE_DATABASE     = var.glue_database
    REBALANCER_ATHENA_WORKGROUP  = var.athena_workgroup
    REBALANCER_KMS_KEY_ARN       = var.kms_key_arn
    POWERTOOLS_METRICS_NAMESPACE = "Rebalancer"
    POWERTOOLS_SERVICE_NAME      = "shard_worker"
  }

  # Transient Lambda failures, retried with exponential backoff and full jitter.
  lambda_retry = {
    ErrorEquals     = ["Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException", "Lambda.TooManyRequestsException"]
    IntervalSeconds = 2
    MaxAttempts     = 6
    BackoffRate     = 2
    JitterStrategy  = "FULL"
  }

  definition = {
    Comment = "Nightly recommend --all over household shards (issue 15)."
    StartAt = "Plan"
    States = {
      Plan = {
        Type           = "Task"
        Resource       = "arn:${var.partition}:states:::lambda:invoke"
        Parameters     = { FunctionName = aws_lambda_function.shard_worker.arn, Payload = { action = "plan" } }
        ResultSelector = { "run_key.$" = "$.Payload.run_key", "shards.$" = "$.Payload.shards" }
        ResultPath     = "$.plan"
        Retry          = [local.lambda_retry]
        Next           = "Shards"
      }
      Shards = {
        Type                       = "Map"
        ItemsPath                  = "$.plan.shards"
        ItemSelector               = { action = "shard", "run_key.$" = "$.plan.run_key", "shard.$" = "$$.Map.Item.Value" }
        MaxConcurrency             = var.max_concurrency
        ToleratedFailurePercentage = var.tolerated_failure_percentage
        ResultPath                 = null
        ItemProcessor = {
          ProcessorConfig = { Mode = "DISTRIBUTED", ExecutionType = "STANDARD" }
          StartAt         = "Shard"
          States = {
            Shard = {
              Type       = "Task"
              Resource   = "arn:${var.partition}:states:::lambda:invoke"
              Parameters = { FunctionName = aws_lambda_function.shard_worker.arn, "Payload.$" = "$" }
              Retry = [
                local.lambda_retry,
                {
                  ErrorEquals     = ["States.TaskFailed", "States.Timeout"]
                  IntervalSeconds = 10
                  MaxAttempts     = var.shard_retry_attempts
                  BackoffRate     = 2
                  JitterStrategy  = "FULL"
                },
              ]
              Catch = [{ ErrorEquals = ["States.ALL"], ResultPath = "$.error", Next = "DeadLetter" }]
              End   = true
            }
            DeadLetter = {
              Type       = "Task"
              Resource   = "arn:${var.partition}:states:::sqs:sendMessage"
              Parameters = { QueueUrl = aws_sqs_queue.dlq.url, "MessageBody.$" = "$" }
              Next       = "ShardFailed"
            }
            ShardFailed = { Type = "Fail", Error = "ShardFailed", Cause = "a shard failed after its retries (see the dead-letter queue)" }
          }
        }
        Next = "Finish"
      }
      Finish = {
        Type       = "Task"
        Resource   = "arn:${var.partition}:states:::lambda:invoke"
        Parameters = { FunctionName = aws_lambda_function.shard_worker.arn, Payload = { action = "finish", "run_key.$" = "$.plan.run_key" } }
        OutputPath = "$.Payload"
        Retry      = [local.lambda_retry]
        End        = true
      }
    }
  }
}

# ---------------------------------------------------------------------------------------------
# Dead-letter queue: failed shards (sent by the map) and failed scheduled starts
# ---------------------------------------------------------------------------------------------

resource "aws_sqs_queue" "dlq" {
  name                              = "${var.name}-batch-dlq"
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = 300
  message_retention_seconds         = 1209600
}

# ---------------------------------------------------------------------------------------------
# The shard worker
# ---------------------------------------------------------------------------------------------

resource "aws_cloudwatch_log_group" "shard_worker" {
  name              = "/aws/lambda/${local.function_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_lambda_function" "shard_worker" {
  #checkov:skip=CKV_AWS_117:Only S3, KMS, Athena and Glue are called; a VPC would need endpoints or a NAT gateway for no gain.
  #checkov:skip=CKV_AWS_272:Zips are built reproducibly by `make package` and pinned by source_code_hash; no Signer profile in this project.
  function_name                  = local.function_name
  description                    = "Plan, rebalance one household shard, or finish a nightly batch run (Step Functions)."
  role                           = aws_iam_role.shard_worker.arn
  runtime                        = "python3.12"
  architectures                  = ["x86_64"]
  handler                        = "lambdas.shard_worker.handler.handler"
  filename                       = var.shard_worker_zip
  source_code_hash               = filebase64sha256(var.shard_worker_zip)
  layers                         = var.layer_arns
  memory_size                    = var.worker_memory_mb
  timeout                        = var.worker_timeout_seconds
  reserved_concurrent_executions = var.max_concurrency + 2 # the map's workers, plus plan and finish
  kms_key_arn                    = var.kms_key_arn

  environment {
    variables = local.worker_environment
  }

  tracing_config {
    mode = "Active"
  }

  dead_letter_config {
    target_arn = aws_sqs_queue.dlq.arn
  }

  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.shard_worker.name
  }

  depends_on = [aws_iam_role_policy.shard_worker]
}

# ---------------------------------------------------------------------------------------------
# The state machine
# ---------------------------------------------------------------------------------------------

resource "aws_cloudwatch_log_group" "state_machine" {
  name              = "/aws/vendedlogs/states/${var.name}-batch-run"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_sfn_state_machine" "batch_run" {
  name       = "${var.name}-batch-run"
  role_arn   = aws_iam_role.state_machine.arn
  type       = "STANDARD"
  definition = jsonencode(local.definition)

  logging_configuration {
    log_destination        = "${aws_cloudwatch_log_group.state_machine.arn}:*"
    include_execution_data = true
    level                  = "ALL"
  }

  tracing_configuration {
    enabled = true
  }

  encryption_configuration {
    type                              = "CUSTOMER_MANAGED_KMS_KEY"
    kms_key_id                        = var.kms_key_arn
    kms_data_key_reuse_period_seconds = 300
  }

  depends_on = [aws_iam_role_policy.state_machine]
}

# ---------------------------------------------------------------------------------------------
# Nightly schedule
# ---------------------------------------------------------------------------------------------

resource "aws_cloudwatch_event_rule" "batch_run" {
  name                = "${var.name}-batch-run-schedule"
  description         = "Weekdays after the US close: recommend trades for every account."
  schedule_expression = var.schedule
}

resource "aws_cloudwatch_event_target" "batch_run" {
  rule     = aws_cloudwatch_event_rule.batch_run.name
  arn      = aws_sfn_state_machine.batch_run.arn
  role_arn = aws_iam_role.events.arn
  input    = jsonencode({})

  retry_policy {
    maximum_event_age_in_seconds = 3600
    maximum_retry_attempts       = 3
  }

  dead_letter_config {
    arn = aws_sqs_queue.dlq.arn
  }
}
