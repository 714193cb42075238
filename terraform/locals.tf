# The one place names and tags are decided; every module receives them from here.
locals {
  name = "${var.project}-${var.environment}"

  tags = merge(
    {
      Project     = var.project
      Environment = var.environment
      ManagedBy   = "terraform"
      Repository  = "rebalancer"
    },
    var.extra_tags,
  )

  # Region, account and partition always come from the provider's credentials.
  region     = data.aws_region.current.name
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  repo_root = "${path.root}/.."

  # Globally unique bucket names: project, environment, account and region.
  bucket_prefix = "${local.name}-${local.account_id}-${local.region}"

  lake_prefix   = "lake"
  models_prefix = "models"

  function_names = {
    fetch_market_data   = "${local.name}-fetch-market-data"
    compact             = "${local.name}-compact"
    rebalance_portfolio = "${local.name}-rebalance-portfolio"
  }
}

data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}
