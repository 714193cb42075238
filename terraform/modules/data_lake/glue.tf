# The Glue catalog is derived from the repo's schemas/*.json: one table per file, columns, types
# and partition keys read with jsondecode(file(...)), never retyped here. Partitioned tables use
# partition projection on dt, so writers only put objects at <lake>/<table>/dt=YYYY-MM-DD/ and
# never call the catalog. Book tables read a symlink list the publisher rewrites (see below);
# the household-keyed ones are partitioned by shard (projection over the book's shards).

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

  # Household shards (rebalancer.book._shards): these book tables are written one object per
  # shard, and the publisher writes one symlink list per shard under
  # _book/athena/<table>/shard=NNNN/ (rebalancer.book._publish.SHARD_PARTITIONED; an unsharded
  # book lists everything under shard=0000). Glue adds the `shard` partition key to the columns
  # of their schema files; projection enumerates 0 .. max_book_shards - 1, so a query filtering
  # on `shard` reads one shard's objects and one without the filter reads them all.
  sharded_tables = ["clients", "accounts", "holdings", "tax_lots", "restrictions", "transactions"]
  shard_partition_key = {
    name        = "shard"
    type        = "int"
    description = "Household shard: from_base(substr(to_hex(md5(to_utf8(household_id))), 1, 8), 16) % S, S = the book manifest's shards."
  }
  partition_keys = {
    for name, schema in local.schemas : name => concat(
      try(schema.partition_keys, []),
      contains(local.sharded_tables, name) ? [local.shard_partition_key] : [],
    )
  }

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
    !contains(local.sharded_tables, each.key) ? {} : {
      "projection.enabled"        = "true"
      "projection.shard.type"     = "integer"
      "projection.shard.range"    = "0,${var.max_book_shards - 1}"
      "projection.shard.digits"   = "4"
      "storage.location.template" = "${local.book_symlink_root}/${each.key}/shard=$${shard}"
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
    for_each = local.partition_keys[each.key]

    content {
      name    = partition_keys.value.name
      type    = partition_keys.value.type
      comment = substr(partition_keys.value.description, 0, 255)
    }
  }

  lifecycle {
    precondition {
      condition     = alltrue([for key in try(each.value.partition_keys, []) : key.name == "dt"])
      error_message = "Only a dt partition key is supported in schema files (partition projection is configured for dt)."
    }

    precondition {
      condition     = !contains(local.book_tables, each.key) || length(try(each.value.partition_keys, [])) == 0
      error_message = "Book tables are published as one version (symlink lists); their only partition is the shard added here."
    }

    precondition {
      condition     = alltrue([for t in local.sharded_tables : contains(local.book_tables, t)])
      error_message = "Sharded tables are book tables."
    }
  }
}
