output "kms_key_arn" {
  description = "ARN of the lake's customer-managed KMS key."
  value       = aws_kms_key.lake.arn
}

output "lake_bucket" {
  description = "Name of the lake bucket."
  value       = aws_s3_bucket.lake.bucket
}

output "lake_bucket_arn" {
  description = "ARN of the lake bucket."
  value       = aws_s3_bucket.lake.arn
}

output "lake_uri" {
  description = "REBALANCER_LAKE: s3://<lake bucket>/<lake prefix>."
  value       = local.lake_root
}

output "lake_prefix" {
  description = "Key prefix of the lake tables in the lake bucket."
  value       = var.lake_prefix
}

output "models_prefix" {
  description = "Key prefix of model artifacts in the lake bucket."
  value       = var.models_prefix
}

output "athena_results_bucket" {
  description = "Name of the Athena results bucket."
  value       = aws_s3_bucket.athena_results.bucket
}

output "athena_results_bucket_arn" {
  description = "ARN of the Athena results bucket."
  value       = aws_s3_bucket.athena_results.arn
}

output "access_logs_bucket" {
  description = "Name of the S3 server access logs bucket."
  value       = aws_s3_bucket.access_logs.bucket
}

output "glue_database" {
  description = "REBALANCER_GLUE_DATABASE: the Glue database of the lake tables."
  value       = aws_glue_catalog_database.lake.name
}

output "glue_database_arn" {
  description = "ARN of the Glue database."
  value       = aws_glue_catalog_database.lake.arn
}

output "glue_table_names" {
  description = "Lake tables created from schemas/*.json."
  value       = sort(keys(aws_glue_catalog_table.table))
}

output "athena_workgroup" {
  description = "REBALANCER_ATHENA_WORKGROUP: the Athena workgroup."
  value       = aws_athena_workgroup.lake.name
}

output "athena_workgroup_arn" {
  description = "ARN of the Athena workgroup."
  value       = aws_athena_workgroup.lake.arn
}

output "named_query_ids" {
  description = "Athena named query ids by name (views as view_<name>, analyst queries by file name)."
  value       = { for name, query in aws_athena_named_query.query : name => query.id }
}
