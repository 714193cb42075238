output "lake_bucket" {
  description = "Lake bucket (tables under lake/, model artifacts under models/)."
  value       = module.data_lake.lake_bucket
}

output "athena_results_bucket" {
  description = "Athena query results bucket."
  value       = module.data_lake.athena_results_bucket
}

output "kms_key_arn" {
  description = "REBALANCER_KMS_KEY_ARN: the lake's KMS key."
  value       = module.data_lake.kms_key_arn
}

output "glue_table_names" {
  description = "Glue tables created from schemas/*.json."
  value       = module.data_lake.glue_table_names
}

output "named_query_ids" {
  description = "Athena named queries (sql/views as view_<name>, sql/queries by file name)."
  value       = module.data_lake.named_query_ids
}

output "api_url" {
  description = "Base URL of the rebalancing API."
  value       = module.rebalance_api.api_url
}

output "api_key_id" {
  description = "Id of the default API key."
  value       = module.rebalance_api.api_key_id
}

output "api_key_value" {
  description = "Value of the default API key (`terraform output -raw api_key_value`)."
  value       = module.rebalance_api.api_key_value
  sensitive   = true
}

output "api_key_secret_arn" {
  description = "Secrets Manager secret the API function reads its key from."
  value       = module.rebalance_api.api_key_secret_arn
}

output "fetch_schedule" {
  description = "Schedule of the market data fetch."
  value       = module.ingest.fetch_schedule
}

output "model_image" {
  description = "Prebuilt XGBoost image serving the model (null when the endpoint is off)."
  value       = var.enable_model_endpoint ? module.model_endpoint[0].image : null
}

output "sagemaker_endpoint" {
  description = "REBALANCER_SAGEMAKER_ENDPOINT (null when the endpoint is off)."
  value       = var.enable_model_endpoint ? module.model_endpoint[0].endpoint_name : null
}

output "rebalancer_env" {
  description = "Environment for running the CLI against this deployment (`REBALANCER_BACKEND=aws ...`)."
  value = merge(
    {
      REBALANCER_BACKEND          = "aws"
      REBALANCER_REGION           = local.region
      REBALANCER_LAKE             = module.data_lake.lake_uri
      REBALANCER_GLUE_DATABASE    = module.data_lake.glue_database
      REBALANCER_ATHENA_WORKGROUP = module.data_lake.athena_workgroup
      REBALANCER_KMS_KEY_ARN      = module.data_lake.kms_key_arn
    },
    var.enable_model_endpoint ? { REBALANCER_SAGEMAKER_ENDPOINT = module.model_endpoint[0].endpoint_name } : {},
  )
}

output "dashboard_users_policy_arn" {
  description = "Managed IAM policy to attach to the dashboard's users (group, role or SSO permission set)."
  value       = module.rebalance_api.dashboard_users_policy_arn
}
