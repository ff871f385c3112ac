"""The embedded stack expands SAM policy templates exactly as SAM does, from SAM's own definitions."""

from __future__ import annotations

import pytest

from handoff_dev.embedded import iam
from handoff_dev.embedded.stack import PROJECT_ROOT
from handoff_dev.embedded.template import Template


@pytest.mark.parametrize(
    ("name", "parameters"),
    [
        ("DynamoDBCrudPolicy", {"TableName": "calls"}),
        ("SQSSendMessagePolicy", {"QueueName": {"Fn::GetAtt": ["Queue", "QueueName"]}}),
        ("EventBridgePutEventsPolicy", {"EventBusName": "bus"}),
        ("StepFunctionsExecutionPolicy", {"StateMachineName": "machine"}),
        ("AWSSecretsManagerGetSecretValuePolicy", {"SecretArn": {"Ref": "Secret"}}),
        ("LambdaInvokePolicy", {"FunctionName": {"Ref": "Function"}}),
    ],
)
def test_a_policy_template_expands_as_samtranslator_expands_it(name: str, parameters: dict[str, object]) -> None:
    from samtranslator.policy_template_processor.processor import PolicyTemplatesProcessor

    sam = PolicyTemplatesProcessor(PolicyTemplatesProcessor.get_default_policy_templates_json())
    assert iam._expand_policy_template(name, parameters) == sam.convert(name, parameters)


def test_the_state_machine_role_holds_its_templates_resolved_to_this_stacks_resources() -> None:
    template = Template.load(PROJECT_ROOT / "template.yaml", overrides={"Stage": "dev"})
    statements = [s for d in iam.policy_documents(template, "HandoffStateMachine") for s in d["Statement"]]
    resources = {str(s["Resource"]) for s in statements}
    assert "arn:aws:sqs:us-east-1:123456789012:handoff-DeadLetterQueue" in resources  # SQSSendMessagePolicy
    assert "arn:aws:lambda:us-east-1:123456789012:function:handoff-MatchFunction*" in resources


def test_an_unknown_policy_template_is_refused_naming_it() -> None:
    with pytest.raises(NotImplementedError, match="NoSuchPolicy"):
        iam._expand_policy_template("NoSuchPolicy", {})
