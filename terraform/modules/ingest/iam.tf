# One role per function. Actions are listed one by one (no wildcards); resources are ARNs of
# this deployment. The only "*" resources are X-Ray's, which has no resource-level permissions.

locals {
  lake_objects = "${var.lake_bucket_arn}/${var.lake_prefix}"

  # Tables fetch_market_data touches: securities (read, seeded once when empty), the day's
  # market_prices objects (read to merge late bars into the same slot) and ingest_rejects.
  fetch_tables = ["securities", "market_prices", "ingest_rejects"]
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

# ---------------------------------------------------------------------------------------------
# fetch_market_data: reads and writes objects of its three tables straight on S3 (see
# local.fetch_tables). No Athena or Glue: it runs no SQL.
# ---------------------------------------------------------------------------------------------

resource "aws_iam_role" "fetch_market_data" {
  name               = "${var.function_names.fetch_market_data}-role"
  description        = "Execution role of ${var.function_names.fetch_market_data}."
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

data "aws_iam_policy_document" "fetch_market_data" {
  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.fetch_market_data.arn}:*"]
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
    sid       = "ListIngestTables"
    actions   = ["s3:ListBucket"]
    resources = [var.lake_bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = [for table in local.fetch_tables : "${var.lake_prefix}/${table}/*"]
    }
  }

  statement {
    sid       = "ReadWriteIngestTables"
    actions   = ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"]
    resources = [for table in local.fetch_tables : "${local.lake_objects}/${table}/*"]
  }
}

resource "aws_iam_role_policy" "fetch_market_data" {
  name   = "least-privilege"
  role   = aws_iam_role.fetch_market_data.id
  policy = data.aws_iam_policy_document.fetch_market_data.json
}

# ---------------------------------------------------------------------------------------------
# compact: rewrites one market_prices partition as one object and deletes the small ones.
# ---------------------------------------------------------------------------------------------

resource "aws_iam_role" "compact" {
  name               = "${var.function_names.compact}-role"
  description        = "Execution role of ${var.function_names.compact}."
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

data "aws_iam_policy_document" "compact" {
  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.compact.arn}:*"]
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
    sid       = "ListMarketPrices"
    actions   = ["s3:ListBucket"]
    resources = [var.lake_bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.lake_prefix}/market_prices/*"]
    }
  }

  statement {
    sid = "RewriteMarketPrices"
    actions = [
      "s3:AbortMultipartUpload",
      "s3:DeleteObject",
      "s3:GetObject",
      "s3:PutObject",
    ]
    resources = ["${local.lake_objects}/market_prices/*"]
  }
}

resource "aws_iam_role_policy" "compact" {
  name   = "least-privilege"
  role   = aws_iam_role.compact.id
  policy = data.aws_iam_policy_document.compact.json
}
