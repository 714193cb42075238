output "state_machine_arn" {
  description = "ARN of the nightly batch state machine."
  value       = aws_sfn_state_machine.batch_run.arn
}

output "shard_worker_function_name" {
  description = "Name of the shard worker function."
  value       = aws_lambda_function.shard_worker.function_name
}

output "dead_letter_queue_url" {
  description = "URL of the batch dead-letter queue (failed scheduled starts, failed shards)."
  value       = aws_sqs_queue.dlq.url
}
