"""A Lambda context object shaped like the runtime's (what Powertools' decorators read)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

EVENTS_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "events"


@dataclass
class LambdaContext:
    """The attributes Powertools' ``inject_lambda_context`` reads."""

    function_name: str
    memory_limit_in_mb: int = 512
    aws_request_id: str = "52fdfc07-2182-154f-163f-5f0f9a621d72"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"
