# Athena: one workgroup whose enforced configuration decides where results go and how they are
# encrypted, and one named query per SQL file (sql/views/*.sql as CREATE OR REPLACE VIEW, the
# analyst queries in sql/queries/*.sql as they are). The SQL is read from the files, not retyped.

locals {
  view_files  = fileset(var.sql_dir, "views/*.sql")
  query_files = fileset(var.sql_dir, "queries/*.sql")

  named_queries = merge(
    {
      for f in local.view_files :
      "view_${trimsuffix(basename(f), ".sql")}" => {
        description = trimspace(trimprefix(split("\n", file("${var.sql_dir}/${f}"))[0], "--"))
        query = format(
          "CREATE OR REPLACE VIEW \"%s\" AS\n%s",
          trimsuffix(basename(f), ".sql"),
          trimsuffix(trimspace(file("${var.sql_dir}/${f}")), ";"),
        )
      }
    },
    {
      for f in local.query_files :
      trimsuffix(basename(f), ".sql") => {
        description = trimspace(trimprefix(split("\n", file("${var.sql_dir}/${f}"))[0], "--"))
        query       = trimspace(file("${var.sql_dir}/${f}"))
      }
    },
  )
}

resource "aws_athena_workgroup" "lake" {
  name          = var.name
  description   = "Rebalancer analysts and Lambdas: enforced KMS-encrypted results, per-query scan limit."
  state         = "ENABLED"
  force_destroy = var.force_destroy

  configuration {
    enforce_workgroup_configuration    = true
    publish_cloudwatch_metrics_enabled = true
    bytes_scanned_cutoff_per_query     = var.athena_bytes_scanned_cutoff

    engine_version {
      selected_engine_version = "Athena engine version 3"
    }

    result_configuration {
      output_location       = "s3://${aws_s3_bucket.athena_results.bucket}/results/"
      expected_bucket_owner = var.account_id

      encryption_configuration {
        encryption_option = "SSE_KMS"
        kms_key_arn       = aws_kms_key.lake.arn
      }
    }
  }
}

resource "aws_athena_named_query" "query" {
  for_each = local.named_queries

  name        = each.key
  description = substr(each.value.description, 0, 1024)
  database    = aws_glue_catalog_database.lake.name
  workgroup   = aws_athena_workgroup.lake.id
  query       = each.value.query
}
