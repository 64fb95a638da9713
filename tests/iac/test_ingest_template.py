"""The S3 drop in the packaged template: an encrypted, versioned, private bucket with a
lifecycle to archive, whose ObjectCreated events under inbox/ invoke the ingest function;
least-privilege role; failures to a DLQ behind an alarm."""

from __future__ import annotations

from typing import Any

from .test_template import _grants, _log_arn, _of_type, _target

BUCKET = "uvqc-lab-ingest-${AWS::AccountId}-${AWS::Region}"
OBJECTS = "arn:${AWS::Partition}:s3:::" + BUCKET


def test_ingest_function_runs_the_ingest_handler_at_128_mb_with_a_dlq(
    resources: dict[str, Any],
) -> None:
    props = resources["IngestLambdaFunction"]["Properties"]
    assert props["Handler"] == "uvqc.aws.ingest_handler.handler"
    assert props["MemorySize"] == 128
    assert props["Architectures"] == ["arm64"]
    assert props["Role"] == {"Fn::GetAtt": ["IngestFunctionRole", "Arn"]}
    assert props["DeadLetterConfig"] == {"TargetArn": {"Fn::GetAtt": ["IngestDLQ", "Arn"]}}
    env = props["Environment"]["Variables"]
    assert _target(env["UVQC_INTAKE_QUEUE_URL"]) == "IntakeQueue"
    assert _target(env["UVQC_NOTIFY_QUEUE_URL"]) == "NotifyQueue"
    assert "UVQC_INGEST_WAVELENGTH_NM" in env
    assert env["UVQC_INGEST_TIMEZONE"] == "UTC"  # param ingestTimezone
    # no event source mapping: S3 invokes it asynchronously
    mappings = _of_type(resources, "AWS::Lambda::EventSourceMapping").values()
    assert all(_target(m["Properties"]["FunctionName"]) != "IngestLambdaFunction" for m in mappings)


def test_bucket_is_encrypted_versioned_private_tls_only_and_archives(
    resources: dict[str, Any],
) -> None:
    (name,) = [
        n for n in _of_type(resources, "AWS::S3::Bucket") if n != "ServerlessDeploymentBucket"
    ]
    assert name == "IngestBucket"
    props = resources[name]["Properties"]
    assert props["BucketName"] == {"Fn::Sub": BUCKET}
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert set(props["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(props["PublicAccessBlockConfiguration"]) == 4
    (lifecycle,) = props["LifecycleConfiguration"]["Rules"]
    assert lifecycle["Status"] == "Enabled"
    assert lifecycle["Transitions"] == [{"StorageClass": "GLACIER", "TransitionInDays": 30}]
    assert lifecycle["NoncurrentVersionTransitions"][0]["StorageClass"] == "GLACIER"
    policy = resources["IngestBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert policy[0]["Effect"] == "Deny"
    assert policy[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_object_created_under_inbox_invokes_the_function_with_permission(
    resources: dict[str, Any],
) -> None:
    bucket = resources["IngestBucket"]
    (config,) = bucket["Properties"]["NotificationConfiguration"]["LambdaConfigurations"]
    assert config["Event"] == "s3:ObjectCreated:*"
    assert config["Function"] == {"Fn::GetAtt": ["IngestLambdaFunction", "Arn"]}
    assert config["Filter"]["S3Key"]["Rules"] == [{"Name": "prefix", "Value": "inbox/"}]
    assert "IngestInvokePermission" in bucket["DependsOn"]
    permission = resources["IngestInvokePermission"]["Properties"]
    assert permission["Principal"] == "s3.amazonaws.com"
    assert permission["Action"] == "lambda:InvokeFunction"
    assert permission["SourceAccount"] == {"Ref": "AWS::AccountId"}
    assert permission["SourceArn"] == {"Fn::Sub": OBJECTS}


def test_ingest_role_grants_exactly_what_the_ingest_function_calls(
    resources: dict[str, Any],
) -> None:
    assert _grants(resources, "IngestFunctionRole") == {
        ("s3:GetObject", OBJECTS + "/inbox/*"),
        ("s3:PutObject", OBJECTS + "/rejected/*"),
        ("sqs:SendMessage", "IntakeQueue"),
        ("sqs:SendMessage", "NotifyQueue"),
        ("sqs:SendMessage", "IngestDLQ"),
        ("logs:CreateLogStream", _log_arn("ingest")),
        ("logs:PutLogEvents", _log_arn("ingest")),
    }


def test_ingest_dlq_keeps_14_days_and_is_watched(
    resources: dict[str, Any], template: dict[str, Any]
) -> None:
    assert resources["IngestDLQ"]["Properties"]["MessageRetentionPeriod"] == 1209600
    alarm = resources["IngestDLQNotEmptyAlarm"]["Properties"]
    assert _target(alarm["Dimensions"][0]["Value"]) == "IngestDLQ"
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    assert _target(template["Outputs"]["IngestBucketName"]["Value"]) == "IngestBucket"
