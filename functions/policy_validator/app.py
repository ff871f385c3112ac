"""policy_validator: AppConfig's Lambda validator for the routing and partner policies.

AppConfig calls it before a version is deployed (the JSON Schema validator has
already checked the shape); an exception refuses the version, so a policy that
fails ``handoff policy check`` can never become live.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from handoff.policy_source import validate_version

logger = Logger()


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return validate_version(event)
