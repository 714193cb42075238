"""The batch shard worker Lambda (Step Functions Distributed Map over household shards)."""
