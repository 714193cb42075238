output "role_arn" {
  description = "REBALANCER_SAGEMAKER_ROLE_ARN: the role `rebalancer train --on sagemaker` passes to its jobs."
  value       = aws_iam_role.training.arn
}

output "role_name" {
  description = "Name of the training role."
  value       = aws_iam_role.training.name
}
