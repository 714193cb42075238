output "endpoint_name" {
  description = "REBALANCER_SAGEMAKER_ENDPOINT: the endpoint serving the model."
  value       = aws_sagemaker_endpoint.advisor.name
}

output "endpoint_arn" {
  description = "ARN of the endpoint."
  value       = aws_sagemaker_endpoint.advisor.arn
}

output "image" {
  description = "The prebuilt XGBoost image the model runs on."
  value       = data.aws_sagemaker_prebuilt_ecr_image.xgboost.registry_path
}

output "model_data_url" {
  description = "The model.tar.gz the endpoint serves."
  value       = local.model_data_url
}

output "inference_code_uri" {
  description = "SAGEMAKER_SUBMIT_DIRECTORY: the inference script's sourcedir.tar.gz."
  value       = local.inference_code_uri
}
