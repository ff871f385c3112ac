"""One way to make a side effect happen once: Powertools idempotency on the Handoff table.

Act (one record per action), notify (per call and outcome, Slack and e-mail),
the partner consumer (per routed event) and the Billit customer sync (per
change) all guard a partner write the same way, so the setup lives here:

- records in the Handoff table (``pk`` key, ``expires_at`` TTL), with an
  explicit key prefix so renaming a module never resets them;
- ``raise_on_no_idempotency_key``: an empty identity is a bug, never a pass;
- the Lambda context registered, so a crashed attempt's in-progress claim
  expires with its invocation instead of blocking retries for the window;
- ``on_replay`` called when the answer comes from a record, not the function.

Each guard gets its own persistence layer (they share the boto3 client): a
Powertools layer keeps the first configuration it was given, so two guards
sharing one would silently share the first one's expiry window.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

from handoff import aws

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency.hook import IdempotentHookFunction

F = TypeVar("F", bound=Callable[..., Any])

KEY_ATTR = "pk"
EXPIRY_ATTR = "expires_at"


def persistence_layer(table_name: str) -> DynamoDBPersistenceLayer:
    """A fresh persistence layer on the Handoff table (one per guard, see the module docstring)."""
    return DynamoDBPersistenceLayer(
        table_name=table_name, key_attr=KEY_ATTR, expiry_attr=EXPIRY_ATTR, boto3_client=aws.client("dynamodb")
    )


def once(
    key_prefix: str,
    *,
    identity: str,
    window_seconds: int,
    table_name: str = "",
    persistence: DynamoDBPersistenceLayer | None = None,
    lambda_context: Any = None,
    on_replay: Callable[[Any], None] | None = None,
) -> Callable[[F], F]:
    """Decorate a function so it runs once per value of its keyword argument ``identity``.

    The value (a small dict of what makes two attempts the same) is hashed into
    the record key ``<key_prefix>#<hash>``; the function's JSON-serialisable
    answer is stored and returned to every later attempt inside the window.
    """
    config = IdempotencyConfig(
        expires_after_seconds=window_seconds,
        raise_on_no_idempotency_key=True,
        response_hook=cast("IdempotentHookFunction", _replay_hook(on_replay)) if on_replay else None,
    )
    if lambda_context is not None:
        config.register_lambda_context(lambda_context)
    store = persistence or persistence_layer(table_name)

    def decorate(fn: F) -> F:
        wrapped = idempotent_function(
            data_keyword_argument=identity, persistence_store=store, config=config, key_prefix=key_prefix
        )(fn)
        return cast(F, wrapped)

    return decorate


def _replay_hook(on_replay: Callable[[Any], None]) -> Callable[[Any, Any], Any]:
    def hook(response: Any, record: Any) -> Any:
        on_replay(response)
        return response

    return hook
