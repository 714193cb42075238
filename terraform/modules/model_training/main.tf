# The role SageMaker training jobs run as (`rebalancer train --on sagemaker`): the job reads the
# training set Athena UNLOADed and its code under <training_prefix>/, writes its artifacts under
# <output_prefix>/, uses the lake key, and logs. It runs with network isolation, so nothing
# else is reachable; the caller (not this role) runs the UNLOAD and registers the model.

locals {
  training_objects = "${var.lake_bucket_arn}/${var.training_prefix}/*"
  output_objects   = "${var.lake_bucket_arn}/${var.output_prefix}/*"
  log_group_arn    = "arn:${var.partition}:logs:${var.region}:${var.account_id}:log-group:/aws/sagemaker/TrainingJobs"
}

data "aws_iam_policy_document" "assume" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["sagemaker.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [var.account_id]
    }
  }
}

resource "aws_iam_role" "training" {
  name               = "${var.name}-sagemaker-training"
  description        = "SageMaker training jobs of the advisor model: read ${var.training_prefix}/, write ${var.output_prefix}/."
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

data "aws_iam_policy_document" "training" {
  statement {
    sid       = "ReadTrainingSetAndCode"
    actions   = ["s3:GetObject"]
    resources = [local.training_objects]
  }

  statement {
    sid       = "ListTrainingSetAndCode"
    actions   = ["s3:ListBucket"]
    resources = [var.lake_bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.training_prefix}/*"]
    }
  }

  statement {
    sid       = "WriteJobArtifacts"
    actions   = ["s3:PutObject", "s3:AbortMultipartUpload"]
    resources = [local.output_objects]
  }

  statement {
    sid       = "LakeKey"
    actions   = ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }

  statement {
    sid       = "GrantForTrainingVolume"
    actions   = ["kms:CreateGrant"]
    resources = [var.kms_key_arn]

    condition {
      test     = "Bool"
      variable = "kms:GrantIsForAWSResource"
      values   = ["true"]
    }
  }

  statement {
    sid = "TrainingLogs"
    actions = [
      "logs:CreateLogGroup",
      "logs:CreateLogStream",
      "logs:DescribeLogStreams",
      "logs:PutLogEvents",
    ]
    resources = [local.log_group_arn, "${local.log_group_arn}:*"]
  }

  statement {
    sid       = "TrainingMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"] # AWS requires "*": PutMetricData has no resource-level permissions (namespace condition below).

    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = ["/aws/sagemaker/TrainingJobs"]
    }
  }
}

resource "aws_iam_role_policy" "training" {
  name   = "least-privilege"
  role   = aws_iam_role.training.id
  policy = data.aws_iam_policy_document.training.json
}
