# One role each for the worker, the state machine and the schedule. Actions are listed one by
# one; resources are ARNs of this deployment. "*" only where AWS has no resource-level
# permissions (X-Ray, CloudWatch Logs delivery).

locals {
  lake_objects = "${var.lake_bucket_arn}/${var.lake_prefix}"

  # What the worker reads: the published book (manifest, versions), the prices the plan step
  # queries, securities; what it writes: its run staging and the run's recommendations object.
  read_prefixes  = ["_book", "market_prices", "securities"]
  write_prefixes = ["_runs", "recommendations"]

  glue_arns = [
    "arn:${var.partition}:glue:${var.region}:${var.account_id}:catalog",
    "arn:${var.partition}:glue:${var.region}:${var.account_id}:database/${var.glue_database}",
    "arn:${var.partition}:glue:${var.region}:${var.account_id}:table/${var.glue_database}/*",
  ]
}

# ---------------------------------------------------------------------------------------------
# shard worker
# ---------------------------------------------------------------------------------------------

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

resource "aws_iam_role" "shard_worker" {
  name               = "${local.function_name}-role"
  description        = "Execution role of ${local.function_name}."
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

data "aws_iam_policy_document" "shard_worker" {
  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.shard_worker.arn}:*"]
  }

  statement {
    sid       = "XRayTraces"
    actions   = ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]
    resources = ["*"] # AWS requires "*": X-Ray trace APIs have no resource-level permissions.
  }

  statement {
    sid       = "DeadLetterQueue"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dlq.arn]
  }

  statement {
    sid       = "LakeKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }

  statement {
    sid       = "ListBatchPrefixes"
    actions   = ["s3:ListBucket"]
    resources = [var.lake_bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = [for p in concat(local.read_prefixes, local.write_prefixes) : "${var.lake_prefix}/${p}/*"]
    }
  }

  statement {
    sid       = "ReadBookAndPrices"
    actions   = ["s3:GetObject"]
    resources = [for p in local.read_prefixes : "${local.lake_objects}/${p}/*"]
  }

  statement {
    sid       = "WriteRunStagingAndResult"
    actions   = ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:PutObject"]
    resources = [for p in local.write_prefixes : "${local.lake_objects}/${p}/*"]
  }

  statement {
    sid       = "PlanQueriesPrices"
    actions   = ["athena:GetQueryExecution", "athena:GetQueryResults", "athena:StartQueryExecution", "athena:StopQueryExecution", "athena:GetWorkGroup"]
    resources = [var.athena_workgroup_arn]
  }

  statement {
    sid       = "PlanReadsCatalog"
    actions   = ["glue:GetDatabase", "glue:GetPartitions", "glue:GetTable"]
    resources = local.glue_arns
  }

  statement {
    sid       = "PlanQueryResults"
    actions   = ["s3:AbortMultipartUpload", "s3:GetBucketLocation", "s3:GetObject", "s3:ListBucket", "s3:PutObject"]
    resources = [var.athena_results_bucket_arn, "${var.athena_results_bucket_arn}/*"]
  }
}

resource "aws_iam_role_policy" "shard_worker" {
  name   = "least-privilege"
  role   = aws_iam_role.shard_worker.id
  policy = data.aws_iam_policy_document.shard_worker.json
}

# ---------------------------------------------------------------------------------------------
# state machine: invokes the worker, runs its own map executions, sends failed shards to the
# dead-letter queue, writes its logs and traces.
# ---------------------------------------------------------------------------------------------

data "aws_iam_policy_document" "states_assume" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["states.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [var.account_id]
    }
  }
}

resource "aws_iam_role" "state_machine" {
  name               = "${var.name}-batch-run-role"
  description        = "Execution role of the ${var.name} batch run state machine."
  assume_role_policy = data.aws_iam_policy_document.states_assume.json
}

data "aws_iam_policy_document" "state_machine" {
  statement {
    sid       = "InvokeWorker"
    actions   = ["lambda:InvokeFunction"]
    resources = [aws_lambda_function.shard_worker.arn, "${aws_lambda_function.shard_worker.arn}:*"]
  }

  statement {
    sid     = "DistributedMapChildren"
    actions = ["states:StartExecution"]
    # The map's child executions run in this state machine (its ARN, built to avoid a cycle).
    resources = ["arn:${var.partition}:states:${var.region}:${var.account_id}:stateMachine:${var.name}-batch-run"]
  }

  statement {
    sid       = "DistributedMapChildState"
    actions   = ["states:DescribeExecution", "states:StopExecution"]
    resources = ["arn:${var.partition}:states:${var.region}:${var.account_id}:execution:${var.name}-batch-run/*"]
  }

  statement {
    sid       = "FailedShards"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dlq.arn]
  }

  statement {
    sid       = "StateMachineKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }

  statement {
    sid       = "XRayTraces"
    actions   = ["xray:GetSamplingRules", "xray:GetSamplingTargets", "xray:PutTelemetryRecords", "xray:PutTraceSegments"]
    resources = ["*"] # AWS requires "*": X-Ray trace APIs have no resource-level permissions.
  }

  statement {
    sid = "LogDelivery"
    actions = [
      "logs:CreateLogDelivery",
      "logs:DeleteLogDelivery",
      "logs:DescribeLogGroups",
      "logs:DescribeResourcePolicies",
      "logs:GetLogDelivery",
      "logs:ListLogDeliveries",
      "logs:PutResourcePolicy",
      "logs:UpdateLogDelivery",
    ]
    resources = ["*"] # AWS requires "*": CloudWatch Logs delivery APIs have no resource-level permissions.
  }
}

resource "aws_iam_role_policy" "state_machine" {
  name   = "least-privilege"
  role   = aws_iam_role.state_machine.id
  policy = data.aws_iam_policy_document.state_machine.json
}

# ---------------------------------------------------------------------------------------------
# schedule: EventBridge starts the state machine
# ---------------------------------------------------------------------------------------------

data "aws_iam_policy_document" "events_assume" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [var.account_id]
    }
  }
}

resource "aws_iam_role" "events" {
  name               = "${var.name}-batch-run-schedule-role"
  description        = "EventBridge role that starts the ${var.name} batch run."
  assume_role_policy = data.aws_iam_policy_document.events_assume.json
}

data "aws_iam_policy_document" "events" {
  statement {
    sid       = "StartBatchRun"
    actions   = ["states:StartExecution"]
    resources = [aws_sfn_state_machine.batch_run.arn]
  }
}

resource "aws_iam_role_policy" "events" {
  name   = "start-batch-run"
  role   = aws_iam_role.events.id
  policy = data.aws_iam_policy_document.events.json
}

# EventBridge delivers a start it could not make to the dead-letter queue.
data "aws_iam_policy_document" "dlq" {
  statement {
    sid       = "ScheduleDeadLetters"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dlq.arn]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.batch_run.arn]
    }
  }
}

resource "aws_sqs_queue_policy" "dlq" {
  queue_url = aws_sqs_queue.dlq.id
  policy    = data.aws_iam_policy_document.dlq.json
}
