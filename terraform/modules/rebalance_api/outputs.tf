output "api_url" {
  description = "Base URL of the API stage (send the key in the x-api-key header)."
  value       = aws_api_gateway_stage.api.invoke_url
}

output "api_key_id" {
  description = "Id of the default API key (`aws apigateway get-api-key --api-key <id> --include-value`)."
  value       = aws_api_gateway_api_key.default.id
}

output "api_key_value" {
  description = "Value of the default API key."
  value       = aws_api_gateway_api_key.default.value
  sensitive   = true
}

output "function_name" {
  description = "Name of the rebalance_portfolio function."
  value       = aws_lambda_function.rebalance_portfolio.function_name
}

output "log_group_arns" {
  description = "ARNs of the API's and the function's log groups."
  value = [
    aws_cloudwatch_log_group.function.arn,
    aws_cloudwatch_log_group.access.arn,
    aws_cloudwatch_log_group.execution.arn,
  ]
}

output "api_key_secret_arn" {
  description = "Secrets Manager secret holding the key the function checks (REBALANCER_API_KEY_SECRET_ID)."
  value       = aws_secretsmanager_secret.api_key.arn
}

output "dashboard_users_policy_arn" {
  description = "Managed policy for dashboard users (Athena on the workgroup, read the lake, write decisions, invoke the API)."
  value       = aws_iam_policy.dashboard_users.arn
}
