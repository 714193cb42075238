# The advisor-action model on SageMaker's prebuilt XGBoost image. The image tag is pinned to
# the XGBoost version the artifact is saved with (rebalancer.model.XGBOOST_IMAGE_TAG), so the
# endpoint loads exactly what training wrote.

locals {
  # Must equal rebalancer.model.XGBOOST_IMAGE_TAG (a test asserts it): XGBoost 3.2 -> "3.2-0".
  xgboost_image_tag = "3.2-0"

  model_data_url = "s3://${var.lake_bucket}/${var.model_artifact_key}"
  models_objects = "${var.lake_bucket_arn}/${var.models_prefix}/*"
  endpoint_name  = "${var.name}-advisor"

  # The inference script (src/training/inference.py + the serving.py it imports), built by
  # `make package` as sourcedir.tar.gz; its key names its content, so a new script is a new
  # object and a new model.
  inference_code_md5 = filemd5(var.inference_sourcedir)
  inference_code_key = "${var.models_prefix}/code/inference-${local.inference_code_md5}.tar.gz"
  inference_code_uri = "s3://${var.lake_bucket}/${local.inference_code_key}"

  # A model is immutable: any change replaces it, under a new deterministic name.
  model_fingerprint = substr(sha1(join("|", [
    data.aws_sagemaker_prebuilt_ecr_image.xgboost.registry_path,
    local.model_data_url,
    local.inference_code_uri,
  ])), 0, 10)
}

# Script mode: the container downloads SAGEMAKER_SUBMIT_DIRECTORY at start and serves its
# model_fn / input_fn / predict_fn / output_fn (probabilities AND contributions as JSON, so
# reason codes exist on AWS too). It sits under models/, which the endpoint role may read.
resource "aws_s3_object" "inference_code" {
  bucket                 = var.lake_bucket
  key                    = local.inference_code_key
  source                 = var.inference_sourcedir
  source_hash            = local.inference_code_md5
  content_type           = "application/gzip"
  server_side_encryption = "aws:kms"
  kms_key_id             = var.kms_key_arn
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
  #checkov:skip=CKV_AWS_370:Script mode downloads the inference script from SAGEMAKER_SUBMIT_DIRECTORY (S3) at start; isolation would block that, and packing the script into model.tar.gz would break its one-file contract. The role can read only models/.
  name                     = "${var.name}-xgboost-${local.model_fingerprint}"
  execution_role_arn       = aws_iam_role.endpoint.arn
  enable_network_isolation = false

  primary_container {
    image          = data.aws_sagemaker_prebuilt_ecr_image.xgboost.registry_path
    model_data_url = local.model_data_url
    mode           = "SingleModel"

    # Names read by the image's toolkit (sagemaker-containers: SAGEMAKER_PROGRAM, SAGEMAKER_
    # SUBMIT_DIRECTORY; SAGEMAKER_REGION for the S3 download), as the SageMaker SDK sets them.
    environment = {
      SAGEMAKER_PROGRAM             = "inference.py"
      SAGEMAKER_SUBMIT_DIRECTORY    = local.inference_code_uri
      SAGEMAKER_REGION              = var.region
      SAGEMAKER_CONTAINER_LOG_LEVEL = "20"
    }
  }

  lifecycle {
    create_before_destroy = true
  }

  depends_on = [aws_iam_role_policy.endpoint, aws_s3_object.inference_code]
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
