# The advisor-action model on SageMaker's prebuilt XGBoost image. The image tag is pinned to
# the XGBoost version the artifact is saved with (rebalancer.model.XGBOOST_IMAGE_TAG), so the
# endpoint loads exactly what training wrote.

locals {
  # Must equal rebalancer.model.XGBOOST_IMAGE_TAG (a test asserts it): XGBoost 3.2 -> "3.2-0".
  xgboost_image_tag = "3.2-0"

  model_data_url = "s3://${var.lake_bucket}/${var.model_artifact_key}"
  models_objects = "${var.lake_bucket_arn}/${var.models_prefix}/*"
  endpoint_name  = "${var.name}-advisor"

  # A model is immutable: any change replaces it, under a new deterministic name.
  model_fingerprint = substr(sha1(join("|", [
    data.aws_sagemaker_prebuilt_ecr_image.xgboost.registry_path,
    local.model_data_url,
  ])), 0, 10)
}

data "aws_sagemaker_prebuilt_ecr_image" "xgboost" {
  repository_name = "sagemaker-xgboost"
  image_tag       = local.xgboost_image_tag
}

data "aws_iam_policy_document" "sagemaker_assume" {
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

resource "aws_iam_role" "endpoint" {
  name               = "${var.name}-model-endpoint"
  description        = "Execution role of the ${local.endpoint_name} SageMaker model: reads only ${var.models_prefix}/."
  assume_role_policy = data.aws_iam_policy_document.sagemaker_assume.json
}

data "aws_iam_policy_document" "endpoint" {
  statement {
    sid       = "ReadModelArtifacts"
    actions   = ["s3:GetObject"]
    resources = [local.models_objects]
  }

  statement {
    sid       = "ListModelArtifacts"
    actions   = ["s3:ListBucket"]
    resources = [var.lake_bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.models_prefix}/*"]
    }
  }

  statement {
    sid       = "DecryptArtifactsAndVolume"
    actions   = ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }

  statement {
    sid       = "GrantForEndpointStorage"
    actions   = ["kms:CreateGrant"]
    resources = [var.kms_key_arn]

    condition {
      test     = "Bool"
      variable = "kms:GrantIsForAWSResource"
      values   = ["true"]
    }
  }

  statement {
    sid = "EndpointLogs"
    actions = [
      "logs:CreateLogGroup",
      "logs:CreateLogStream",
      "logs:DescribeLogStreams",
      "logs:PutLogEvents",
    ]
    resources = [
      "arn:${var.partition}:logs:${var.region}:${var.account_id}:log-group:/aws/sagemaker/Endpoints/${local.endpoint_name}",
      "arn:${var.partition}:logs:${var.region}:${var.account_id}:log-group:/aws/sagemaker/Endpoints/${local.endpoint_name}:*",
    ]
  }

  statement {
    sid       = "EndpointMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"] # AWS requires "*": PutMetricData has no resource-level permissions (namespace condition below).

    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = ["/aws/sagemaker/Endpoints"]
    }
  }
}

resource "aws_iam_role_policy" "endpoint" {
  name   = "least-privilege"
  role   = aws_iam_role.endpoint.id
  policy = data.aws_iam_policy_document.endpoint.json
}

resource "aws_sagemaker_model" "xgboost" {
  name                     = "${var.name}-xgboost-${local.model_fingerprint}"
  execution_role_arn       = aws_iam_role.endpoint.arn
  enable_network_isolation = true

  primary_container {
    image          = data.aws_sagemaker_prebuilt_ecr_image.xgboost.registry_path
    model_data_url = local.model_data_url
    mode           = "SingleModel"
  }

  lifecycle {
    create_before_destroy = true
  }

  depends_on = [aws_iam_role_policy.endpoint]
}

resource "aws_sagemaker_endpoint_configuration" "advisor" {
  name_prefix = "${var.name}-advisor-"
  kms_key_arn = var.kms_key_arn

  production_variants {
    variant_name           = "AllTraffic"
    model_name             = aws_sagemaker_model.xgboost.name
    initial_instance_count = var.serverless ? null : var.instance_count
    instance_type          = var.serverless ? null : var.instance_type

    dynamic "serverless_config" {
      for_each = var.serverless ? [1] : []

      content {
        memory_size_in_mb = var.serverless_memory_mb
        max_concurrency   = var.serverless_max_concurrency
      }
    }
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_sagemaker_endpoint" "advisor" {
  name                 = local.endpoint_name
  endpoint_config_name = aws_sagemaker_endpoint_configuration.advisor.name
}
