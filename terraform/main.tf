# The whole AWS system: lake (S3 + KMS + Glue + Athena), ingestion Lambdas on schedules, the
# rebalancing API (API Gateway + Lambda) and the model endpoint (SageMaker).

locals {
  deps_layer_zip          = coalesce(var.deps_layer_zip, "${var.dist_dir}/layer/rebalancer-deps-layer.zip")
  fetch_market_data_zip   = coalesce(var.fetch_market_data_zip, "${var.dist_dir}/lambda/fetch_market_data.zip")
  compact_zip             = coalesce(var.compact_zip, "${var.dist_dir}/lambda/compact.zip")
  rebalance_portfolio_zip = coalesce(var.rebalance_portfolio_zip, "${var.dist_dir}/lambda/rebalance_portfolio.zip")

  # AWS-managed AWS SDK for pandas layer (awswrangler, pandas, pyarrow, numpy): region-aware.
  aws_sdk_pandas_layer_arn = "arn:${local.partition}:lambda:${local.region}:${var.aws_sdk_pandas_layer_account}:layer:AWSSDKPandas-Python312:${var.aws_sdk_pandas_layer_version}"

  layer_arns    = [local.aws_sdk_pandas_layer_arn, aws_lambda_layer_version.deps.arn]
  alarm_actions = var.alarm_sns_topic_arn == "" ? [] : [var.alarm_sns_topic_arn]

  log_group_arn_patterns = [
    "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/lambda/${local.name}-*",
    "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/apigateway/${local.name}-*",
    "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:API-Gateway-Execution-Logs_*",
  ]
}

# The project's dependency layer (yfinance and the small pure-Python deps the managed layer
# lacks), built by `make layer` for Lambda's platform.
resource "aws_lambda_layer_version" "deps" {
  layer_name               = "${local.name}-deps"
  description              = "rebalancer runtime dependencies not in the AWS SDK for pandas layer (make layer)"
  filename                 = local.deps_layer_zip
  source_code_hash         = filebase64sha256(local.deps_layer_zip)
  compatible_runtimes      = ["python3.12"]
  compatible_architectures = ["x86_64"]
}

module "data_lake" {
  source = "./modules/data_lake"

  name                           = local.name
  bucket_prefix                  = local.bucket_prefix
  account_id                     = local.account_id
  region                         = local.region
  partition                      = local.partition
  lake_prefix                    = local.lake_prefix
  models_prefix                  = local.models_prefix
  schemas_dir                    = "${local.repo_root}/schemas"
  sql_dir                        = "${local.repo_root}/sql"
  athena_bytes_scanned_cutoff    = var.athena_bytes_scanned_cutoff
  athena_results_expiration_days = var.athena_results_expiration_days
  log_group_arn_patterns         = local.log_group_arn_patterns
  force_destroy                  = var.force_destroy
  max_book_shards                = var.max_book_shards
}

module "ingest" {
  source = "./modules/ingest"

  name                  = local.name
  account_id            = local.account_id
  function_names        = local.function_names
  fetch_market_data_zip = local.fetch_market_data_zip
  compact_zip           = local.compact_zip
  layer_arns            = local.layer_arns
  kms_key_arn           = module.data_lake.kms_key_arn
  lake_uri              = module.data_lake.lake_uri
  lake_bucket_arn       = module.data_lake.lake_bucket_arn
  lake_prefix           = module.data_lake.lake_prefix
  glue_database         = module.data_lake.glue_database
  athena_workgroup      = module.data_lake.athena_workgroup
  market_source         = var.market_source
  compact_schedule      = var.compact_schedule
  log_retention_days    = var.log_retention_days
  alarm_actions         = local.alarm_actions
}

module "model_endpoint" {
  source = "./modules/model_endpoint"
  count  = var.enable_model_endpoint ? 1 : 0

  name                = local.name
  partition           = local.partition
  region              = local.region
  account_id          = local.account_id
  kms_key_arn         = module.data_lake.kms_key_arn
  lake_bucket         = module.data_lake.lake_bucket
  lake_bucket_arn     = module.data_lake.lake_bucket_arn
  models_prefix       = module.data_lake.models_prefix
  model_artifact_key  = var.model_artifact_key
  inference_sourcedir = local.inference_sourcedir
  serverless          = var.endpoint_serverless
  instance_type       = var.endpoint_instance_type
  instance_count      = var.endpoint_instance_count
}

module "rebalance_api" {
  source = "./modules/rebalance_api"

  name                        = local.name
  partition                   = local.partition
  region                      = local.region
  account_id                  = local.account_id
  function_name               = local.function_names.rebalance_portfolio
  rebalance_portfolio_zip     = local.rebalance_portfolio_zip
  layer_arns                  = local.layer_arns
  kms_key_arn                 = module.data_lake.kms_key_arn
  lake_uri                    = module.data_lake.lake_uri
  lake_bucket_arn             = module.data_lake.lake_bucket_arn
  lake_prefix                 = module.data_lake.lake_prefix
  athena_results_bucket_arn   = module.data_lake.athena_results_bucket_arn
  glue_database               = module.data_lake.glue_database
  athena_workgroup            = module.data_lake.athena_workgroup
  athena_workgroup_arn        = module.data_lake.athena_workgroup_arn
  sagemaker_endpoint_name     = var.enable_model_endpoint ? module.model_endpoint[0].endpoint_name : ""
  throttle_rate_limit         = var.api_throttle_rate_limit
  throttle_burst_limit        = var.api_throttle_burst_limit
  daily_quota                 = var.api_daily_quota
  manage_account_logging_role = var.manage_api_gateway_account
  log_retention_days          = var.log_retention_days
  alarm_actions               = local.alarm_actions
}
