"""The packaged CloudFormation stack on a moto server, for the end-to-end test and the AWS
chaos benchmark: create it as osls would (create, upload the artifact, update), read its
outputs, functions and event source mappings, and leave moto clean afterwards."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from uvqc.settings import Settings, load_settings

from .conftest import REGION
from .esm import EventSourceMapping

CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"]


@dataclass
class Stack:
    outputs: dict[str, str]
    functions: dict[str, dict[str, Any]]  # logical id -> function configuration
    mappings: dict[str, dict[str, Any]]  # function name -> event source mapping

    def settings(self) -> Settings:
        """What an operator's `uvqc ... --aws` reads: the stack's outputs."""
        o = self.outputs
        return load_settings(
            intake_queue_url=o["IntakeQueueUrl"],
            notify_queue_url=o["NotifyQueueUrl"],
            intake_dlq_url=o["IntakeDLQUrl"],
            notify_dlq_url=o["NotifyDLQUrl"],
            records_table=o["RecordsTableName"],
            ledger_table=o["LedgerTableName"],
        )


@contextmanager
def deployed(
    moto_endpoint: str, packaged: Any, stage: str, *, visibility_seconds: int = 10
) -> Iterator[Stack]:
    """The packaged stack `uvqc-<stage>` on moto, with moto's own event source mappings
    disabled (the emulator polls) and the queues' visibility timeout shortened for speed."""
    import boto3

    name = f"uvqc-{stage}"

    def client(service: str) -> Any:
        return boto3.client(
            service,
            region_name=REGION,
            endpoint_url=moto_endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    cfn = client("cloudformation")
    cfn.create_stack(
        StackName=name,
        TemplateBody=packaged.create_template_path.read_text(encoding="utf-8"),
        Capabilities=CAPABILITIES,
    )
    outputs = {
        o["OutputKey"]: o["OutputValue"]
        for o in cfn.describe_stacks(StackName=name)["Stacks"][0]["Outputs"]
    }
    template = packaged.template()
    key = template["Resources"]["CheckLambdaFunction"]["Properties"]["Code"]["S3Key"]
    client("s3").upload_file(str(packaged.artifact), outputs["ServerlessDeploymentBucketName"], key)
    cfn.update_stack(StackName=name, TemplateBody=json.dumps(template), Capabilities=CAPABILITIES)
    (described,) = cfn.describe_stacks(StackName=name)["Stacks"]
    if described["StackStatus"] not in {"CREATE_COMPLETE", "UPDATE_COMPLETE"}:
        raise RuntimeError(f"stack {name} is {described['StackStatus']}")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Outputs"]}

    # moto lists some resources without a physical id (AWS::Lambda::Permission, e.g. the
    # ingest bucket's invoke permission): only those with one can be looked up.
    resources = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cfn.describe_stack_resources(StackName=name)["StackResources"]
        # moto records some resources without a physical id (seen since the template has
        # the scheduled runs function); none of those is looked up here
        if "LogicalResourceId" in r and "PhysicalResourceId" in r
    }
    lambda_ = client("lambda")
    functions = {
        logical: lambda_.get_function_configuration(FunctionName=resources[logical])
        for logical in ("CheckLambdaFunction", "NotifyLambdaFunction")
    }
    mappings = {}
    for mapping in lambda_.list_event_source_mappings()["EventSourceMappings"]:
        # moto would run the function itself (in Docker) on every send: the emulator polls.
        lambda_.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
        mappings[mapping["FunctionArn"].rsplit(":", 1)[1]] = mapping

    sqs = client("sqs")
    for queue in ("IntakeQueueUrl", "NotifyQueueUrl"):
        sqs.set_queue_attributes(
            QueueUrl=outputs[queue], Attributes={"VisibilityTimeout": str(visibility_seconds)}
        )
    try:
        yield Stack(outputs, functions, mappings)
    finally:
        # moto's state is per process and shared by every server in it: leave none behind
        # for tests that list resources (moto's delete_stack fails on this template's exports).
        urllib.request.urlopen(
            urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST"), timeout=10
        ).close()


def mapping_for(
    stack: Stack, logical: str, handler: Any, sqs: Any, **env: str
) -> EventSourceMapping:
    """An event-source-mapping emulator for one function, configured from the stack."""
    config = stack.functions[logical]
    mapping = stack.mappings[config["FunctionName"]]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    queue_name = mapping["EventSourceArn"].rsplit(":", 1)[1]
    return EventSourceMapping(
        sqs,
        sqs.get_queue_url(QueueName=queue_name)["QueueUrl"],
        handler,
        batch_size=mapping["BatchSize"],
        function_name=config["FunctionName"],
        timeout_seconds=config["Timeout"],
        environment={**config["Environment"]["Variables"], **env},
        region=REGION,
    )
