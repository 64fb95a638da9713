"""The packaged stack deploys on moto's CloudFormation the way osls deploys it on AWS.

osls creates the stack from the create-stack template (the deployment bucket), uploads the
artifact to the S3 key the update-stack template names, then updates the stack. Doing the
same here proves moto accepts every resource type the template uses (moto skips, with a
warning, the ones it does not model: AWS::S3::BucketPolicy, AWS::CloudWatch::Alarm and
AWS::Scheduler::Schedule) and that the queues and tables come out with the names and
attributes the code relies on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from .conftest import Packaged

# moto does not model these types; it skips them with a UserWarning (asserted below).
# (a filter cannot contain ":", hence ".." for "::")
pytestmark = pytest.mark.filterwarnings(
    r"ignore:Tried to parse AWS..(S3..BucketPolicy|CloudWatch..Alarm|Scheduler..Schedule) "
    "but:UserWarning"
)

STACK = "uvqc-lab"
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"]


@pytest.fixture(scope="module")
def aws(monkeypatch_module: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    for name in ["AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"]:
        monkeypatch_module.delenv(name, raising=False)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield {
            "endpoint_url": f"http://{host}:{port}",
            "region_name": "eu-west-1",
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
        }
    finally:
        server.stop()


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as mp:
        yield mp


@pytest.fixture(scope="module")
def stack(aws: dict[str, Any], lab: Packaged) -> dict[str, Any]:
    cfn = boto3.client("cloudformation", **aws)
    create = lab.create_template_path.read_text(encoding="utf-8")
    cfn.create_stack(StackName=STACK, TemplateBody=create, Capabilities=CAPABILITIES)
    (created,) = cfn.describe_stacks(StackName=STACK)["Stacks"]
    assert created["StackStatus"] == "CREATE_COMPLETE"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in created["Outputs"]}

    template = lab.template()
    for function, artifact in (
        ("CheckLambdaFunction", lab.artifact),
        ("DigestLambdaFunction", lab.artifact.with_name("uvqc-digest.zip")),
    ):
        key = template["Resources"][function]["Properties"]["Code"]["S3Key"]
        boto3.client("s3", **aws).upload_file(
            str(artifact), outputs["ServerlessDeploymentBucketName"], key
        )
    cfn.update_stack(StackName=STACK, TemplateBody=json.dumps(template), Capabilities=CAPABILITIES)
    (updated,) = cfn.describe_stacks(StackName=STACK)["Stacks"]
    return dict(updated)


def _outputs(stack: dict[str, Any]) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


def test_stack_completes_with_every_declared_resource(
    aws: dict[str, Any], stack: dict[str, Any], lab: Packaged
) -> None:
    assert stack["StackStatus"] in {"CREATE_COMPLETE", "UPDATE_COMPLETE"}
    summaries = boto3.client("cloudformation", **aws).list_stack_resources(StackName=STACK)
    statuses = {
        s["LogicalResourceId"]: s["ResourceStatus"]
        for s in summaries["StackResourceSummaries"]
        if "LogicalResourceId" in s  # moto lists unsupported types without ids
    }
    conditional = {"AlarmEmailSubscription"}  # no alarm e-mail on the lab stage
    unmodelled = {"AWS::S3::BucketPolicy", "AWS::CloudWatch::Alarm", "AWS::Scheduler::Schedule"}
    expected = {
        name
        for name, res in lab.template()["Resources"].items()
        if name not in conditional and res["Type"] not in unmodelled
    }
    assert expected <= set(statuses)
    assert {statuses[name] for name in expected} == {"CREATE_COMPLETE"}


def test_queues_have_redrive_retention_visibility_and_encryption(
    aws: dict[str, Any], stack: dict[str, Any]
) -> None:
    sqs = boto3.client("sqs", **aws)
    outputs = _outputs(stack)

    def attributes(output: str) -> dict[str, str]:
        url = sqs.get_queue_url(QueueName=outputs[output].rsplit("/", 1)[1])["QueueUrl"]
        return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]

    for source, dlq, visibility in [
        ("IntakeQueueUrl", "IntakeDLQUrl", "180"),
        ("NotifyQueueUrl", "NotifyDLQUrl", "360"),
        ("DigestQueueUrl", "DigestDLQUrl", "720"),
    ]:
        queue, dead = attributes(source), attributes(dlq)
        assert json.loads(queue["RedrivePolicy"]) == {
            "deadLetterTargetArn": dead["QueueArn"],
            "maxReceiveCount": 10,
        }
        assert queue["VisibilityTimeout"] == visibility
        assert queue["MessageRetentionPeriod"] == "345600"
        assert dead["MessageRetentionPeriod"] == "1209600"
        assert queue["SqsManagedSseEnabled"] == dead["SqsManagedSseEnabled"] == "true"


def test_tables_have_the_keys_and_by_sample_index_the_stores_query(
    aws: dict[str, Any], stack: dict[str, Any]
) -> None:
    dynamodb = boto3.client("dynamodb", **aws)
    outputs = _outputs(stack)
    for output, key, range_key in [
        ("RecordsTableName", "recordId", "receivedAt"),
        ("LedgerTableName", "notificationKey", "createdAt"),
    ]:
        table = dynamodb.describe_table(TableName=outputs[output])["Table"]
        assert table["KeySchema"] == [{"AttributeName": key, "KeyType": "HASH"}]
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        (index,) = table["GlobalSecondaryIndexes"]
        assert index["IndexName"] == "bySample"
        assert [k["AttributeName"] for k in index["KeySchema"]] == ["sampleId", range_key]


def test_functions_get_their_environment_from_the_stack(
    aws: dict[str, Any], stack: dict[str, Any]
) -> None:
    lambda_ = boto3.client("lambda", **aws)
    outputs = _outputs(stack)
    check = lambda_.get_function_configuration(FunctionName="uvqc-lab-check")
    notify = lambda_.get_function_configuration(FunctionName="uvqc-lab-notify")
    assert check["Handler"] == "uvqc.aws.check_handler.handler"
    assert check["Environment"]["Variables"]["UVQC_NOTIFY_QUEUE_URL"] == outputs["NotifyQueueUrl"]
    assert check["Environment"]["Variables"]["UVQC_RECORDS_TABLE"] == outputs["RecordsTableName"]
    env = notify["Environment"]["Variables"]
    assert env["UVQC_LEDGER_TABLE"] == outputs["LedgerTableName"]
    assert env["UVQC_NOTIFY_DLQ_URL"] == outputs["NotifyDLQUrl"]
    assert env["UVQC_SNS_TOPIC_ARN"].endswith(":uvqc-lab-notifications")
    assert check["Environment"]["Variables"]["UVQC_DIGEST_QUEUE_URL"] == outputs["DigestQueueUrl"]
    digest = lambda_.get_function_configuration(FunctionName="uvqc-lab-digest")
    assert digest["Handler"] == "uvqc.aws.digest_handler.handler"
    assert digest["MemorySize"] == 256
    assert digest["Environment"]["Variables"]["UVQC_DIGEST_DLQ_URL"] == outputs["DigestDLQUrl"]


def test_event_source_mappings_and_dashboard_are_created(
    aws: dict[str, Any], stack: dict[str, Any]
) -> None:
    mappings = boto3.client("lambda", **aws).list_event_source_mappings()["EventSourceMappings"]
    by_queue = {m["EventSourceArn"].rsplit(":", 1)[1]: m for m in mappings}
    assert by_queue["uvqc-lab-intake"]["BatchSize"] == 100
    assert by_queue["uvqc-lab-intake"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert by_queue["uvqc-lab-notify"]["ScalingConfig"] == {"MaximumConcurrency": 2}
    assert by_queue["uvqc-lab-digest"]["BatchSize"] == 1
    dashboards = boto3.client("cloudwatch", **aws).list_dashboards()["DashboardEntries"]
    # moto's state is shared by every stack in the process: look for ours by name.
    assert "uvqc-lab" in [d["DashboardName"] for d in dashboards]
