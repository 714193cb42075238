# The Glue catalog is derived from the repo's schemas/*.json: one table per file, columns, types
# and partition keys read with jsondecode(file(...)), never retyped here. Partitioned tables use
# partition projection on dt, so writers only put objects at <lake>/<table>/dt=YYYY-MM-DD/ and
# never call the catalog. Book tables read a symlink list the publisher rewrites (see below).

locals {
  schema_files = fileset(var.schemas_dir, "*.json")

  schemas = {
    for f in local.schema_files :
    jsondecode(file("${var.schemas_dir}/${f}")).name => jsondecode(file("${var.schemas_dir}/${f}"))
  }

  lake_root = "s3://${aws_s3_bucket.lake.bucket}/${var.lake_prefix}"

  # The client book is published whole (rebalancer.book._publish): each run writes its own
  # version under _book/versions/<version>/, rewrites one symlink list per table under
  # _book/athena/<table>/ and then switches _book/manifest.json. These tables read the
  # objects their symlink list names (SymlinkTextInputFormat over Parquet), never a listing
  # of every version, so Athena sees one book. Same names as rebalancer.book.BOOK_TABLES.
  book_tables = [
    "advisors", "clients", "accounts", "model_portfolios", "holdings", "tax_lots",
    "restrictions", "transactions",
  ]
  book_symlink_root = "${local.lake_root}/_book/athena"

  storage = {
    for name in keys(local.schemas) : name => contains(local.book_tables, name) ? {
      location      = "${local.book_symlink_root}/${name}/"
      input_format  = "org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat"
      output_format = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
      } : {
      location      = "${local.lake_root}/${name}/"
      input_format  = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
      output_format = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
    }
  }

  parquet_table_parameters = {
    EXTERNAL              = "TRUE"
    classification        = "parquet"
    "parquet.compression" = "SNAPPY"
  }
}

resource "aws_glue_catalog_database" "lake" {
  name        = replace(var.name, "-", "_")
  description = "Rebalancer lake tables (owned by Terraform, derived from schemas/*.json)."
}

resource "aws_glue_catalog_table" "table" {
  for_each = local.schemas

  name          = each.key
  database_name = aws_glue_catalog_database.lake.name
  description   = each.value.description
  table_type    = "EXTERNAL_TABLE"

  parameters = merge(
    local.parquet_table_parameters,
    length(try(each.value.partition_keys, [])) == 0 ? {} : {
      "projection.enabled"          = "true"
      "projection.dt.type"          = "date"
      "projection.dt.format"        = "yyyy-MM-dd"
      "projection.dt.range"         = "${var.partition_projection_start},NOW"
      "projection.dt.interval"      = "1"
      "projection.dt.interval.unit" = "DAYS"
      "storage.location.template"   = "${local.lake_root}/${each.key}/dt=$${dt}"
    },
  )

  storage_descriptor {
    location      = local.storage[each.key].location
    input_format  = local.storage[each.key].input_format
    output_format = local.storage[each.key].output_format

    ser_de_info {
      name                  = each.key
      serialization_library = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"

      parameters = {
        "serialization.format" = "1"
      }
    }

    dynamic "columns" {
      for_each = each.value.columns

      content {
        name    = columns.value.name
        type    = columns.value.type
        comment = substr(columns.value.description, 0, 255)
      }
    }
  }

  dynamic "partition_keys" {
    for_each = try(each.value.partition_keys, [])

    content {
      name    = partition_keys.value.name
      type    = partition_keys.value.type
      comment = substr(partition_keys.value.description, 0, 255)
    }
  }

  lifecycle {
    precondition {
      condition     = alltrue([for key in try(each.value.partition_keys, []) : key.name == "dt"])
      error_message = "Only a dt partition key is supported (partition projection is configured for dt)."
    }

    precondition {
      condition     = !contains(local.book_tables, each.key) || length(try(each.value.partition_keys, [])) == 0
      error_message = "Book tables are published as one unpartitioned version (a symlink list per table)."
    }
  }
}
