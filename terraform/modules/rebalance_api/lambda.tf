# rebalance_portfolio: the FastAPI app behind Mangum, invoked synchronously by API Gateway.

locals {
  lake_objects = "${var.lake_bucket_arn}/${var.lake_prefix}"
  glue_catalog = "arn:${var.partition}:glue:${var.region}:${var.account_id}:catalog"
  glue_db      = "arn:${var.partition}:glue:${var.region}:${var.account_id}:database/${var.glue_database}"
  glue_tables  = "arn:${var.partition}:glue:${var.region}:${var.account_id}:table/${var.glue_database}/*"
  has_endpoint = var.sagemaker_endpoint_name != ""

  # REBALANCER_API_KEY is deliberately absent: the function reads the key from Secrets Manager
  # once per container and checks it on every /v1 request, on top of API Gateway's key.
  environment = merge(
    {
      REBALANCER_API_KEY_SECRET_ID = aws_secretsmanager_secret.api_key.arn
      REBALANCER_BACKEND           = "aws"
      REBALANCER_LAKE              = var.lake_uri
      REBALANCER_GLUE_DATABASE     = var.glue_database
      REBALANCER_ATHENA_WORKGROUP  = var.athena_workgroup
      REBALANCER_KMS_KEY_ARN       = var.kms_key_arn
      POWERTOOLS_SERVICE_NAME      = "rebalance_portfolio"
      POWERTOOLS_METRICS_NAMESPACE = "Rebalancer"
    },
    local.has_endpoint ? { REBALANCER_SAGEMAKER_ENDPOINT = var.sagemaker_endpoint_name } : {},
  )
}

resource "aws_cloudwatch_log_group" "function" {
  name              = "/aws/lambda/${var.function_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_lambda_function" "rebalance_portfolio" {
  #checkov:skip=CKV_AWS_116:Invoked synchronously by API Gateway; a DLQ only receives failed asynchronous events.
  #checkov:skip=CKV_AWS_117:No VPC resources to reach; it calls S3, Athena and SageMaker APIs, a VPC would need endpoints or NAT (cost at rest).
  #checkov:skip=CKV_AWS_272:Zips are built reproducibly by `make package` and pinned by source_code_hash; no Signer profile in this project.
  function_name                  = var.function_name
  description                    = "Rebalancing API (FastAPI + Mangum) behind API Gateway."
  role                           = aws_iam_role.rebalance_portfolio.arn
  runtime                        = "python3.12"
  architectures                  = ["x86_64"]
  handler                        = "lambdas.rebalance_portfolio.handler"
  filename                       = var.rebalance_portfolio_zip
  source_code_hash               = filebase64sha256(var.rebalance_portfolio_zip)
  layers                         = var.layer_arns
  memory_size                    = var.memory_mb
  timeout                        = var.timeout_seconds
  reserved_concurrent_executions = var.reserved_concurrency
  kms_key_arn                    = var.kms_key_arn

  environment {
    variables = local.environment
  }

  tracing_config {
    mode = "Active"
  }

  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.function.name
  }

  depends_on = [aws_iam_role_policy.rebalance_portfolio, aws_secretsmanager_secret_version.api_key]
}

resource "aws_lambda_permission" "api_gateway" {
  statement_id  = "AllowThisRestApiOnly"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.rebalance_portfolio.function_name
  principal     = "apigateway.amazonaws.com"
  # This API, this stage, any method and path: no other API can invoke the function.
  source_arn = "${aws_api_gateway_rest_api.api.execution_arn}/${var.stage_name}/*/*"
}

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [var.account_id]
    }
  }
}

resource "aws_iam_role" "rebalance_portfolio" {
  name               = "${var.function_name}-role"
  description        = "Execution role of ${var.function_name}."
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

data "aws_iam_policy_document" "rebalance_portfolio" {
  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function.arn}:*"]
  }

  statement {
    sid       = "XRayTraces"
    actions   = ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]
    resources = ["*"] # AWS requires "*": X-Ray trace APIs have no resource-level permissions.
  }

  statement {
    sid       = "ReadApiKey"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.api_key.arn]
  }

  statement {
    sid       = "LakeKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }

  statement {
    sid       = "LakeBucketLocation"
    actions   = ["s3:GetBucketLocation"]
    resources = [var.lake_bucket_arn]
  }

  statement {
    sid       = "ListLake"
    actions   = ["s3:ListBucket"]
    resources = [var.lake_bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.lake_prefix}/*"]
    }
  }

  statement {
    sid       = "ReadLake"
    actions   = ["s3:GetObject"]
    resources = ["${local.lake_objects}/*"]
  }

  statement {
    sid       = "WriteRecommendations"
    actions   = ["s3:AbortMultipartUpload", "s3:PutObject"]
    resources = ["${local.lake_objects}/recommendations/*"]
  }

  statement {
    sid = "QueryWithAthena"
    actions = [
      "athena:GetQueryExecution",
      "athena:GetQueryResults",
      "athena:GetWorkGroup",
      "athena:StartQueryExecution",
      "athena:StopQueryExecution",
    ]
    resources = [var.athena_workgroup_arn]
  }

  statement {
    sid       = "ReadCatalog"
    actions   = ["glue:GetDatabase", "glue:GetPartitions", "glue:GetTable", "glue:GetTables"]
    resources = [local.glue_catalog, local.glue_db, local.glue_tables]
  }

  statement {
    sid       = "AthenaResultsBucket"
    actions   = ["s3:GetBucketLocation", "s3:ListBucket"]
    resources = [var.athena_results_bucket_arn]
  }

  statement {
    sid       = "AthenaResultsObjects"
    actions   = ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"]
    resources = ["${var.athena_results_bucket_arn}/results/*"]
  }

  dynamic "statement" {
    for_each = local.has_endpoint ? [1] : []

    content {
      sid       = "InvokeModelEndpoint"
      actions   = ["sagemaker:InvokeEndpoint"]
      resources = ["arn:${var.partition}:sagemaker:${var.region}:${var.account_id}:endpoint/${lower(var.sagemaker_endpoint_name)}"]
    }
  }
}

resource "aws_iam_role_policy" "rebalance_portfolio" {
  name   = "least-privilege"
  role   = aws_iam_role.rebalance_portfolio.id
  policy = data.aws_iam_policy_document.rebalance_portfolio.json
}

resource "aws_cloudwatch_metric_alarm" "function_errors" {
  alarm_name          = "${var.function_name}-errors"
  alarm_description   = "rebalance_portfolio raised errors (unhandled exceptions or timeouts)."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.rebalance_portfolio.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
}
