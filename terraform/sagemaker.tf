# SageMaker wiring besides the endpoint's module call (main.tf): the training jobs' role, which
# exists whether or not the endpoint does (a model is trained before one is served), and the
# inference script the endpoint ships. Kept in its own file (variable and output included).

locals {
  inference_sourcedir = coalesce(var.inference_sourcedir, "${var.dist_dir}/sagemaker/sourcedir.tar.gz")
}

module "model_training" {
  source = "./modules/model_training"

  name            = local.name
  partition       = local.partition
  region          = local.region
  account_id      = local.account_id
  kms_key_arn     = module.data_lake.kms_key_arn
  lake_bucket_arn = module.data_lake.lake_bucket_arn
  training_prefix = "training"
  output_prefix   = "${module.data_lake.models_prefix}/training-jobs"
}

variable "inference_sourcedir" {
  description = "The endpoint's inference script (sourcedir.tar.gz: inference.py + serving.py); default <dist_dir>/sagemaker/sourcedir.tar.gz from `make package`."
  type        = string
  default     = null

  validation {
    condition     = var.inference_sourcedir == null ? true : endswith(var.inference_sourcedir, ".tar.gz")
    error_message = "inference_sourcedir must be a .tar.gz."
  }
}

output "sagemaker_training_role_arn" {
  description = "REBALANCER_SAGEMAKER_ROLE_ARN for `rebalancer train --on sagemaker`."
  value       = module.model_training.role_arn
}
