"""The Glue catalog is derived from schemas/*.json, not retyped.

The HCL is parsed to prove that the tables are a ``for_each`` over ``fileset(schemas_dir,
"*.json")`` decoded with ``jsondecode(file(...))``, that columns and partition keys are copied
field by field from each file, and that the root module points ``schemas_dir`` at the repo's
``schemas/``. The derivation is then replayed on the real files and compared with the schemas
the Parquet writer uses (:func:`rebalancer.lake.get_schema`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from rebalancer.lake import AwsLake, get_schema, table_names
from tests.terraform.conftest import REPO_ROOT, TERRAFORM_DIR, Module, clean

GLUE_TYPES = re.compile(
    r"string|double|float|bigint|int|smallint|tinyint|boolean|timestamp|date|decimal\(\d+,\s*\d+\)"
)


def _glue_table(modules: dict[str, Module]) -> dict[str, Any]:
    return clean(modules["data_lake"].resources("aws_glue_catalog_table")["table"])


def _schemas_dir(root: Module) -> Path:
    call = root.module_calls["data_lake"]
    assert call["schemas_dir"] == "${local.repo_root}/schemas"
    assert clean(root.locals["repo_root"]) == "${path.root}/.."
    return (TERRAFORM_DIR / ".." / "schemas").resolve()


def _replay(schema_file: Path) -> dict[str, Any]:
    """What the HCL builds for one file: name, columns and partition keys, field by field."""
    decoded = json.loads(schema_file.read_text())
    return {
        "name": decoded["name"],
        "columns": [(c["name"], c["type"]) for c in decoded["columns"]],
        "partition_keys": [(k["name"], k["type"]) for k in decoded.get("partition_keys", [])],
    }


def test_tables_are_a_for_each_over_the_schema_files(modules: dict[str, Module]) -> None:
    lake = modules["data_lake"]
    assert clean(lake.locals["schema_files"]) == '${fileset(var.schemas_dir, "*.json")}'
    schemas = clean(lake.locals["schemas"])
    assert re.fullmatch(
        r"\$\{\{for f in local\.schema_files : "
        r'jsondecode\(file\("\$\{var\.schemas_dir\}/\$\{f\}"\)\)\.name => '
        r'jsondecode\(file\("\$\{var\.schemas_dir\}/\$\{f\}"\)\)\}\}',
        schemas,
    ), schemas
    table = _glue_table(modules)
    assert table["for_each"] == "${local.schemas}"
    assert table["name"] == "${each.key}"


def test_columns_and_partition_keys_are_copied_from_each_file(modules: dict[str, Module]) -> None:
    table = _glue_table(modules)
    storage = table["storage_descriptor"][0]
    columns = storage["dynamic"][0]["columns"]
    assert columns["for_each"] == "${each.value.columns}"
    assert columns["content"][0]["name"] == "${columns.value.name}"
    assert columns["content"][0]["type"] == "${columns.value.type}"
    keys = table["dynamic"][0]["partition_keys"]
    assert keys["for_each"] == "${local.partition_keys[each.key]}"
    partition_keys = clean(modules["data_lake"].locals["partition_keys"])
    assert partition_keys.startswith(
        "${{for name, schema in local.schemas : name => concat(try(schema.partition_keys, []), "
    ), partition_keys
    assert keys["content"][0]["name"] == "${partition_keys.value.name}"
    assert keys["content"][0]["type"] == "${partition_keys.value.type}"
    assert storage["ser_de_info"][0]["serialization_library"] == (
        "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    )
    assert storage["input_format"] == "${local.storage[each.key].input_format}"
    assert storage["output_format"] == "${local.storage[each.key].output_format}"
    assert storage["location"] == "${local.storage[each.key].location}"


def _storage_branches(lake: Module) -> tuple[dict[str, str], dict[str, str]]:
    """The (book, plain) branches of ``local.storage``, with ``name`` left as a placeholder."""
    storage = clean(lake.locals["storage"])
    match = re.fullmatch(
        r"\$\{\{for name in keys\(local\.schemas\) : name => "
        r"contains\(local\.book_tables, name\) \? \{(.*)\} : \{(.*)\}\}\}",
        storage,
    )
    assert match, storage

    def fields(body: str) -> dict[str, str]:
        return dict(re.findall(r'(\w+) = "([^"]*)"', body))

    return fields(match[1]), fields(match[2])


def test_book_tables_read_the_publishers_symlink_lists(modules: dict[str, Module]) -> None:
    """Book tables are SymlinkTextInputFormat over Parquet at the lists the publisher writes
    (``rebalancer.book._publish``); every other table reads its own prefix as Parquet."""
    from rebalancer.book import BOOK_TABLES
    from rebalancer.lake._manifest import SYMLINK_NAME, SYMLINK_PREFIX

    lake = modules["data_lake"]
    assert sorted(clean(lake.locals["book_tables"])) == sorted(BOOK_TABLES)
    symlink_root = clean(lake.locals["book_symlink_root"])
    assert symlink_root == "${local.lake_root}/" + SYMLINK_PREFIX
    book, plain = _storage_branches(lake)
    assert book["input_format"] == "org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat"
    assert book["output_format"] == "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
    assert plain["input_format"] == "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
    assert plain["output_format"].endswith("MapredParquetOutputFormat")
    assert book["location"] == "${local.book_symlink_root}/${name}/"
    assert plain["location"] == "${local.lake_root}/${name}/"

    # Render the book location as Terraform would and compare with where AwsLake's publisher
    # puts each table's symlink list: the only object under that prefix.
    rendered_root = "s3://bucket/lake"
    lake_obj = AwsLake(rendered_root, database="db", workgroup="wg")
    for table in BOOK_TABLES:
        location = book["location"].replace("${local.book_symlink_root}", symlink_root)
        location = location.replace("${local.lake_root}", rendered_root).replace("${name}", table)
        symlink = lake_obj.blobs.uri(f"{SYMLINK_PREFIX}/{table}/{SYMLINK_NAME}")
        assert symlink == location + SYMLINK_NAME
    conditions = [c["condition"] for c in _glue_table(modules)["lifecycle"][0]["precondition"]]
    assert any("contains(local.book_tables, each.key)" in c for c in conditions)


def test_every_schema_file_gives_the_writer_schema(root: Module) -> None:
    directory = _schemas_dir(root)
    files = sorted(directory.glob("*.json"))
    assert directory == (REPO_ROOT / "schemas").resolve()
    assert len(files) >= 9
    replayed = {t["name"]: t for t in map(_replay, files)}
    assert set(replayed) == set(table_names())
    for name, table in replayed.items():
        schema = get_schema(name)
        assert table["columns"] == [(c.name, c.type) for c in schema.columns], name
        partition = [("dt", "string")] if schema.partitioned else []
        assert table["partition_keys"] == partition, name
        for _, column_type in table["columns"] + table["partition_keys"]:
            assert GLUE_TYPES.fullmatch(column_type), (name, column_type)


def test_partition_projection_matches_the_writer_layout(modules: dict[str, Module]) -> None:
    lake = modules["data_lake"]
    parameters = _glue_table(modules)["parameters"]
    # The dt projection is the map before the shard one (book tables have no dt partition).
    dt_part = parameters.split("!contains(local.sharded_tables", 1)[0]
    projection = dict(re.findall(r'"([a-z.]+(?:\.[a-z]+)*)" = "([^"]*)"', dt_part))
    assert projection["projection.enabled"] == "true"
    assert projection["projection.dt.type"] == "date"
    assert projection["projection.dt.format"] == "yyyy-MM-dd"
    assert projection["projection.dt.interval.unit"] == "DAYS"
    # Projection only where the file declares partition keys.
    assert "length(try(each.value.partition_keys, [])) == 0 ? {} :" in parameters
    template = projection["storage.location.template"]
    assert template == "${local.lake_root}/${each.key}/dt=$${dt}"
    lake_root = clean(lake.locals["lake_root"])
    assert lake_root == "s3://${aws_s3_bucket.lake.bucket}/${var.lake_prefix}"

    # Render the template as Terraform would and compare with where AwsLake writes.
    rendered_root = "s3://bucket/lake"
    for table in ("market_prices", "recommendations", "ingest_rejects"):
        prefix = template.replace("${local.lake_root}", rendered_root)
        prefix = prefix.replace("${each.key}", table).replace("$${dt}", "2024-01-02")
        key = AwsLake(rendered_root, database="db", workgroup="wg").object_key(
            table, "part", dt="2024-01-02"
        )
        assert key.startswith(prefix + "/"), (key, prefix)


def test_unpartitioned_tables_get_no_partition_keys() -> None:
    for schema_file in sorted((REPO_ROOT / "schemas").glob("*.json")):
        table = _replay(schema_file)
        if not get_schema(table["name"]).partitioned:
            assert table["partition_keys"] == [], table["name"]


def test_athena_named_queries_come_from_the_sql_files(modules: dict[str, Module]) -> None:
    lake = modules["data_lake"]
    assert clean(lake.locals["view_files"]) == '${fileset(var.sql_dir, "views/*.sql")}'
    assert clean(lake.locals["query_files"]) == '${fileset(var.sql_dir, "queries/*.sql")}'
    named = clean(lake.locals["named_queries"])
    assert named.count('file("${var.sql_dir}/${f}")') >= 3
    query = clean(lake.resources("aws_athena_named_query")["query"])
    assert query["for_each"] == "${local.named_queries}"
    assert query["query"] == "${each.value.query}"
    assert list((REPO_ROOT / "sql" / "queries").glob("*.sql")), "analyst queries exist"


def test_workgroup_enforces_encrypted_results_and_a_scan_limit(modules: dict[str, Module]) -> None:
    workgroup = clean(modules["data_lake"].resources("aws_athena_workgroup")["lake"])
    config = workgroup["configuration"][0]
    assert config["enforce_workgroup_configuration"] is True
    assert config["bytes_scanned_cutoff_per_query"] == "${var.athena_bytes_scanned_cutoff}"
    encryption = config["result_configuration"][0]["encryption_configuration"][0]
    assert encryption == {"encryption_option": "SSE_KMS", "kms_key_arn": "${aws_kms_key.lake.arn}"}


def test_sharded_book_tables_get_a_projected_shard_partition(
    root: Module, modules: dict[str, Module]
) -> None:
    """The household-keyed book tables are partitioned by ``shard`` (projection over 0 ..
    max_book_shards - 1, four digits) at the per-shard symlink lists the publisher writes; the
    range comes from a root variable that covers the largest book's S."""
    from rebalancer.book._publish import SHARD_PARTITIONED, shard_symlink_lists
    from rebalancer.book._shards import MAX_SHARDS, SHARDED_TABLES, shard_key, shards_for
    from rebalancer.lake._manifest import SYMLINK_PREFIX

    lake = modules["data_lake"]
    assert clean(lake.locals["sharded_tables"]) == list(SHARDED_TABLES) == list(SHARD_PARTITIONED)
    key = clean(lake.locals["shard_partition_key"])
    assert (key["name"], key["type"]) == ("shard", "int")
    assert "% S" in key["description"]
    parameters = _glue_table(modules)["parameters"]
    assert "!contains(local.sharded_tables, each.key) ? {} :" in parameters
    projection = dict(re.findall(r'"([a-z.]+)" = "([^"]*)"', parameters))
    assert projection["projection.shard.type"] == "integer"
    assert projection["projection.shard.range"] == "0,${var.max_book_shards - 1}"
    assert projection["projection.shard.digits"] == "4"
    template = "${local.book_symlink_root}/${each.key}/shard=$${shard}"
    assert template in parameters

    # The range covers a 10M-account book and fits shard=NNNN; the root passes its variable.
    assert root.module_calls["data_lake"]["max_book_shards"] == "${var.max_book_shards}"
    default = root.variables["max_book_shards"]["default"]
    assert default >= shards_for(10_000_000) and default <= MAX_SHARDS + 1
    assert lake.variables["max_book_shards"]["default"] == default

    # Render the template as Terraform would for shard 7 and compare with where the publisher
    # writes shard 7's list, which names shard 7's object alone.
    rendered_root = "s3://bucket/lake"
    blobs = AwsLake(rendered_root, database="db", workgroup="wg").blobs
    symlink_root = clean(lake.locals["book_symlink_root"]).replace(
        "${local.lake_root}", rendered_root
    )
    for table in SHARDED_TABLES:
        location = template.replace("${local.book_symlink_root}", symlink_root)
        location = location.replace("${each.key}", table).replace("$${shard}", f"{7:04d}")
        objects = [blobs.uri(shard_key("v1", table, s)) for s in range(10)]
        lists = shard_symlink_lists(table, objects)
        listed = {blobs.uri(k).rsplit("/", 1)[0]: v for k, v in lists.items()}
        assert listed[location] == objects[7] + "\n"
        assert location.endswith(f"/{SYMLINK_PREFIX}/{table}/shard=0007")
