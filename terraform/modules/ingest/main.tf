# Ingestion: fetch_market_data every 5 minutes (never overlapping) and a daily compaction.

locals {
  # The 5-minute cadence is a product contract (the lake, the missed-slot alarm and the
  # dashboard assume it), not a tuning knob.
  fetch_schedule = "rate(5 minutes)"

  common_environment = {
    REBALANCER_BACKEND           = "aws"
    REBALANCER_LAKE              = var.lake_uri
    REBALANCER_GLUE_DATABASE     = var.glue_database
    REBALANCER_ATHENA_WORKGROUP  = var.athena_workgroup
    REBALANCER_KMS_KEY_ARN       = var.kms_key_arn
    POWERTOOLS_METRICS_NAMESPACE = "Rebalancer"
  }
}

# ---------------------------------------------------------------------------------------------
# Dead-letter queue for failed asynchronous (scheduled) invocations
# ---------------------------------------------------------------------------------------------

resource "aws_sqs_queue" "dlq" {
  name                              = "${var.name}-ingest-dlq"
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = 300
  message_retention_seconds         = 1209600
}

# ---------------------------------------------------------------------------------------------
# Log groups (created here so retention and KMS apply from the first invocation)
# ---------------------------------------------------------------------------------------------

resource "aws_cloudwatch_log_group" "fetch_market_data" {
  name              = "/aws/lambda/${var.function_names.fetch_market_data}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_cloudwatch_log_group" "compact" {
  name              = "/aws/lambda/${var.function_names.compact}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

# ---------------------------------------------------------------------------------------------
# fetch_market_data
# ---------------------------------------------------------------------------------------------

resource "aws_lambda_function" "fetch_market_data" {
  #checkov:skip=CKV_AWS_117:No VPC resources to reach; it calls public market data and AWS APIs, a VPC would need a NAT gateway (cost at rest).
  #checkov:skip=CKV_AWS_272:Zips are built reproducibly by `make package` and pinned by source_code_hash; no Signer profile in this project.
  function_name                  = var.function_names.fetch_market_data
  description                    = "Fetch 5-minute market bars into the lake (EventBridge, every 5 minutes)."
  role                           = aws_iam_role.fetch_market_data.arn
  runtime                        = "python3.12"
  architectures                  = ["x86_64"]
  handler                        = "lambdas.fetch_market_data.handler"
  filename                       = var.fetch_market_data_zip
  source_code_hash               = filebase64sha256(var.fetch_market_data_zip)
  layers                         = var.layer_arns
  memory_size                    = var.fetch_memory_mb
  timeout                        = var.fetch_timeout_seconds
  reserved_concurrent_executions = 1 # one run at a time: a slow run delays the next, never overlaps it
  kms_key_arn                    = var.kms_key_arn

  environment {
    variables = merge(local.common_environment, {
      REBALANCER_MARKET_SOURCE = var.market_source
      POWERTOOLS_SERVICE_NAME  = "fetch_market_data"
    })
  }

  tracing_config {
    mode = "Active"
  }

  dead_letter_config {
    target_arn = aws_sqs_queue.dlq.arn
  }

  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.fetch_market_data.name
  }

  depends_on = [aws_iam_role_policy.fetch_market_data]
}

resource "aws_lambda_function_event_invoke_config" "fetch_market_data" {
  function_name = aws_lambda_function.fetch_market_data.function_name
  # A retry older than one slot would only race the next scheduled run.
  maximum_event_age_in_seconds = 240
  maximum_retry_attempts       = 1
}

resource "aws_cloudwatch_event_rule" "fetch_market_data" {
  name                = "${var.function_names.fetch_market_data}-schedule"
  description         = "Every 5 minutes: fetch market data."
  schedule_expression = local.fetch_schedule
}

resource "aws_cloudwatch_event_target" "fetch_market_data" {
  rule = aws_cloudwatch_event_rule.fetch_market_data.name
  arn  = aws_lambda_function.fetch_market_data.arn

  retry_policy {
    maximum_event_age_in_seconds = 240
    maximum_retry_attempts       = 2
  }
}

resource "aws_lambda_permission" "fetch_market_data_schedule" {
  statement_id   = "AllowEventBridgeSchedule"
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.fetch_market_data.function_name
  principal      = "events.amazonaws.com"
  source_arn     = aws_cloudwatch_event_rule.fetch_market_data.arn
  source_account = var.account_id
}

# ---------------------------------------------------------------------------------------------
# compact (daily, after midnight UTC: yesterday's 5-minute files become one file)
# ---------------------------------------------------------------------------------------------

resource "aws_lambda_function" "compact" {
  #checkov:skip=CKV_AWS_117:Only S3 and KMS are called; a VPC would need endpoints or a NAT gateway for no gain.
  #checkov:skip=CKV_AWS_272:Zips are built reproducibly by `make package` and pinned by source_code_hash; no Signer profile in this project.
  function_name                  = var.function_names.compact
  description                    = "Compact yesterday's market_prices partition (daily)."
  role                           = aws_iam_role.compact.arn
  runtime                        = "python3.12"
  architectures                  = ["x86_64"]
  handler                        = "lambdas.compact.handler"
  filename                       = var.compact_zip
  source_code_hash               = filebase64sha256(var.compact_zip)
  layers                         = var.layer_arns
  memory_size                    = var.compact_memory_mb
  timeout                        = var.compact_timeout_seconds
  reserved_concurrent_executions = 1
  kms_key_arn                    = var.kms_key_arn

  environment {
    variables = merge(local.common_environment, {
      POWERTOOLS_SERVICE_NAME = "compact"
    })
  }

  tracing_config {
    mode = "Active"
  }

  dead_letter_config {
    target_arn = aws_sqs_queue.dlq.arn
  }

  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.compact.name
  }

  depends_on = [aws_iam_role_policy.compact]
}

resource "aws_lambda_function_event_invoke_config" "compact" {
  function_name                = aws_lambda_function.compact.function_name
  maximum_event_age_in_seconds = 3600
  maximum_retry_attempts       = 2
}

resource "aws_cloudwatch_event_rule" "compact" {
  name                = "${var.function_names.compact}-schedule"
  description         = "Daily after midnight UTC: compact yesterday's partition."
  schedule_expression = var.compact_schedule
}

resource "aws_cloudwatch_event_target" "compact" {
  rule = aws_cloudwatch_event_rule.compact.name
  arn  = aws_lambda_function.compact.arn

  retry_policy {
    maximum_event_age_in_seconds = 3600
    maximum_retry_attempts       = 3
  }
}

resource "aws_lambda_permission" "compact_schedule" {
  statement_id   = "AllowEventBridgeSchedule"
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.compact.function_name
  principal      = "events.amazonaws.com"
  source_arn     = aws_cloudwatch_event_rule.compact.arn
  source_account = var.account_id
}
