output "fetch_market_data_function_name" {
  description = "Name of the fetch_market_data function."
  value       = aws_lambda_function.fetch_market_data.function_name
}

output "fetch_market_data_function_arn" {
  description = "ARN of the fetch_market_data function."
  value       = aws_lambda_function.fetch_market_data.arn
}

output "compact_function_name" {
  description = "Name of the compact function."
  value       = aws_lambda_function.compact.function_name
}

output "fetch_schedule" {
  description = "Schedule expression of the market data fetch."
  value       = aws_cloudwatch_event_rule.fetch_market_data.schedule_expression
}

output "dead_letter_queue_url" {
  description = "URL of the ingest dead-letter queue."
  value       = aws_sqs_queue.dlq.url
}

output "log_group_arns" {
  description = "ARNs of the ingest functions' log groups."
  value       = [aws_cloudwatch_log_group.fetch_market_data.arn, aws_cloudwatch_log_group.compact.arn]
}
