# The dashboard's users (issue 13): one managed policy to attach to the group or SSO permission
# set of the advisors and analysts who run `rebalancer dashboard` with REBALANCER_BACKEND=aws.
# Least privilege: Athena on this workgroup only, read on the lake (tables, the model registry
# under <lake>/models), write only to the decisions table (Approve / Reject), and invoke on this
# API's stage (the what-if panel).

locals {
  # GET for reads and health, POST for what-if: the methods the dashboard calls.
  dashboard_api_methods = [
    "${aws_api_gateway_rest_api.api.execution_arn}/${aws_api_gateway_stage.api.stage_name}/GET/*",
    "${aws_api_gateway_rest_api.api.execution_arn}/${aws_api_gateway_stage.api.stage_name}/POST/*",
  ]
}

data "aws_iam_policy_document" "dashboard_users" {
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
    sid       = "WriteDecisions"
    actions   = ["s3:AbortMultipartUpload", "s3:PutObject"]
    resources = ["${local.lake_objects}/decisions/*"]
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

  statement {
    sid       = "InvokeApi"
    actions   = ["execute-api:Invoke"]
    resources = local.dashboard_api_methods
  }
}

resource "aws_iam_policy" "dashboard_users" {
  name        = "${var.name}-dashboard-users"
  description = "Rebalancer dashboard users: Athena on ${var.athena_workgroup}, read the lake, write decisions, invoke the API."
  policy      = data.aws_iam_policy_document.dashboard_users.json
}
