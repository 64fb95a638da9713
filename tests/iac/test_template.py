"""The packaged CloudFormation template has every property issue 4 asks of the deployment."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from .conftest import Packaged

FUNCTIONS = {
    # function logical id: (handler, timeout, role, queue, dlq)
    "CheckLambdaFunction": (
        "uvqc.aws.check_handler.handler",
        30,
        "CheckFunctionRole",
        "IntakeQueue",
        "IntakeDLQ",
    ),
    "NotifyLambdaFunction": (
        "uvqc.aws.notify_handler.handler",
        60,
        "NotifyFunctionRole",
        "NotifyQueue",
        "NotifyDLQ",
    ),
    "DigestLambdaFunction": (
        "uvqc.aws.digest_handler.handler",
        120,
        "DigestFunctionRole",
        "DigestQueue",
        "DigestDLQ",
    ),
}
# The digest function: its own artifact (the plotting stack) and memory (measured, AWS.md).
MEMORY_MB = {"DigestLambdaFunction": 256}
ARTIFACT = {"DigestLambdaFunction": "uvqc-digest.zip"}
# functions without a queue: (handler, timeout, role)
SCHEDULED = {
    "RunsLambdaFunction": ("uvqc.aws.runs_handler.handler", 60, "RunsFunctionRole"),
    "DailyLambdaFunction": ("uvqc.aws.daily_handler.handler", 300, "DailyFunctionRole"),
}
COMMON_ENV = {
    "POWERTOOLS_SERVICE_NAME": "uvqc",
    "POWERTOOLS_METRICS_NAMESPACE": "uvqc",
    "POWERTOOLS_LOG_LEVEL": "INFO",
    "UVQC_RUNTIME": "aws",
}
EMF_METRICS = [
    "ResultsChecked",
    "ResultsFlagged",
    "ResultsRejected",
    "NotificationsSent",
    "NotificationsFailed",
    "NotificationsRetried",
    "NotificationsDeadLettered",
    "RunNoticesQueued",
    "ColdStart",
]


def _of_type(resources: dict[str, Any], kind: str) -> dict[str, Any]:
    return {name: res for name, res in resources.items() if res["Type"] == kind}


def _target(value: Any) -> str:
    """The logical id behind a Ref or GetAtt."""
    if "Ref" in value:
        return str(value["Ref"])
    return str(value["Fn::GetAtt"][0])


# ------------------------------------------------------------------------------- functions


@pytest.mark.parametrize("function", sorted([*FUNCTIONS, *SCHEDULED]))
def test_functions_run_python313_on_arm64_at_their_memory_from_their_built_artifact(
    resources: dict[str, Any], function: str
) -> None:
    handler, timeout, role = (FUNCTIONS.get(function) or SCHEDULED[function])[:3]
    props = resources[function]["Properties"]
    assert props["Runtime"] == "python3.13"
    assert props["Architectures"] == ["arm64"]
    assert props["MemorySize"] == MEMORY_MB.get(function, 128)
    assert props["Timeout"] == timeout
    assert props["Handler"] == handler
    assert props["Role"] == {"Fn::GetAtt": [role, "Arn"]}
    assert props["Code"]["S3Bucket"] == {"Ref": "ServerlessDeploymentBucket"}
    assert props["Code"]["S3Key"].endswith("/" + ARTIFACT.get(function, "uvqc.zip"))


def test_only_the_declared_functions_exist_and_no_shared_execution_role(
    resources: dict[str, Any],
) -> None:
    functions = {*FUNCTIONS, *SCHEDULED, "IngestLambdaFunction"}  # ingest: test_ingest_template
    assert set(_of_type(resources, "AWS::Lambda::Function")) == functions
    assert "IamRoleLambdaExecution" not in resources
    assert set(_of_type(resources, "AWS::IAM::Role")) == {
        "CheckFunctionRole",
        "NotifyFunctionRole",
        "RunsFunctionRole",
        "IngestFunctionRole",
        "DigestFunctionRole",
        "DailyFunctionRole",
        "DailyScheduleRole",  # assumed by EventBridge Scheduler, not by a function
    }


GROUPING_ENV = {  # the lab's grouping of run decision e-mails (params runGroupSeconds ...)
    "UVQC_RUN_GROUP_SECONDS": "0",
    "UVQC_RUN_IMMEDIATE": "calibration_failed,check_standard_failed",
    "UVQC_RUN_DIGEST": "true",
}


def test_the_runs_function_runs_every_minute_against_the_runs_table(
    resources: dict[str, Any],
) -> None:
    (rule,) = _of_type(resources, "AWS::Events::Rule").values()
    assert rule["Properties"]["ScheduleExpression"] == "rate(1 minute)"
    env = resources["RunsLambdaFunction"]["Properties"]["Environment"]["Variables"]
    assert env == {
        **COMMON_ENV,
        "UVQC_NOTIFY_QUEUE_URL": {"Ref": "NotifyQueue"},
        "UVQC_RUNS_TABLE": {"Ref": "RunsTable"},
        "UVQC_RUN_QUIET_SECONDS": "900",
        "UVQC_DIGEST_QUEUE_URL": {"Ref": "DigestQueue"},
        **GROUPING_ENV,
    }
    props = resources["RunsTable"]["Properties"]
    assert props["KeySchema"] == [
        {"AttributeName": "batchId", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert [i["IndexName"] for i in props["GlobalSecondaryIndexes"]] == ["openRuns", "bySample"]
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"]["SSEEnabled"] is True


def test_log_groups_keep_30_days(resources: dict[str, Any]) -> None:
    groups = _of_type(resources, "AWS::Logs::LogGroup")
    assert {g["Properties"]["LogGroupName"] for g in groups.values()} == {
        "/aws/lambda/uvqc-lab-check",
        "/aws/lambda/uvqc-lab-notify",
        "/aws/lambda/uvqc-lab-runs",
        "/aws/lambda/uvqc-lab-ingest",
        "/aws/lambda/uvqc-lab-digest",
        "/aws/lambda/uvqc-lab-daily",
    }
    assert all(g["Properties"]["RetentionInDays"] == 30 for g in groups.values())


def test_check_environment_names_the_notify_queue_and_records_table(
    resources: dict[str, Any],
) -> None:
    env = resources["CheckLambdaFunction"]["Properties"]["Environment"]["Variables"]
    assert env == {
        **COMMON_ENV,
        "UVQC_NOTIFY_QUEUE_URL": {"Ref": "NotifyQueue"},
        "UVQC_RECORDS_TABLE": {"Ref": "RecordsTable"},
        # deduplication windows of the notification identity (issue 8, case 1)
        "UVQC_LEDGER_TABLE": {"Ref": "LedgerTable"},
        "UVQC_DEDUP_WINDOW_SECONDS": "86400",
        "UVQC_INTAKE_DLQ_URL": {"Ref": "IntakeDLQ"},
        "UVQC_RUNS_TABLE": {"Ref": "RunsTable"},
        "UVQC_DIGEST_QUEUE_URL": {"Ref": "DigestQueue"},
        **GROUPING_ENV,
    }


def test_notify_environment_carries_channel_relay_and_resources_but_no_secret(
    resources: dict[str, Any],
) -> None:
    env = resources["NotifyLambdaFunction"]["Properties"]["Environment"]["Variables"]
    assert env == {
        **COMMON_ENV,
        "UVQC_CHANNEL": "ses",
        "UVQC_MAIL_FROM": "uvqc@example.org",
        "UVQC_MAIL_TO": "lab@example.org",
        "UVQC_SMTP_HOST": "smtp.example.org",
        "UVQC_SMTP_PORT": "587",
        "UVQC_SMTP_STARTTLS": "true",
        "UVQC_SMTP_USERNAME": "uvqc",
        "UVQC_SMTP_PASSWORD_PARAMETER": "/uvqc/lab/smtp-password",
        "UVQC_SES_IDENTITY": "example.org",
        "UVQC_SNS_TOPIC_ARN": {"Ref": "NotifyTopic"},
        "UVQC_LEDGER_TABLE": {"Ref": "LedgerTable"},
        "UVQC_NOTIFY_DLQ_URL": {"Ref": "NotifyDLQ"},
        "UVQC_RETRY_BASE_SECONDS": "30",
        "UVQC_MAX_ATTEMPTS": "5",
    }
    assert not any("PASSWORD" in name and "PARAMETER" not in name for name in env)


def test_digest_environment_is_the_notify_one_on_its_dlq_with_the_runs_table(
    resources: dict[str, Any],
) -> None:
    notify = resources["NotifyLambdaFunction"]["Properties"]["Environment"]["Variables"]
    env = resources["DigestLambdaFunction"]["Properties"]["Environment"]["Variables"]
    assert env == {
        **{k: v for k, v in notify.items() if k != "UVQC_NOTIFY_DLQ_URL"},
        "UVQC_DIGEST_DLQ_URL": {"Ref": "DigestDLQ"},
        "UVQC_RUNS_TABLE": {"Ref": "RunsTable"},
        "UVQC_RECORDS_TABLE": {"Ref": "RecordsTable"},  # the scans of flagged samples
        "MPLCONFIGDIR": "/tmp/matplotlib",
    }


def test_digest_consumes_its_queue_one_run_at_a_time_with_at_most_two_senders(
    resources: dict[str, Any],
) -> None:
    mapping = _mapping_for(resources, "DigestLambdaFunction")
    assert _target(mapping["EventSourceArn"]) == "DigestQueue"
    assert mapping["BatchSize"] == 1
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": 2}


# ------------------------------------------------------------------------------- queues


def _mapping_for(resources: dict[str, Any], function: str) -> dict[str, Any]:
    mappings = [
        m["Properties"]
        for m in _of_type(resources, "AWS::Lambda::EventSourceMapping").values()
        if _target(m["Properties"]["FunctionName"]) == function
    ]
    assert len(mappings) == 1, f"{function} needs exactly one event source mapping"
    return mappings[0]


def test_check_consumes_the_intake_queue_in_large_batches_with_partial_failures(
    resources: dict[str, Any],
) -> None:
    mapping = _mapping_for(resources, "CheckLambdaFunction")
    assert _target(mapping["EventSourceArn"]) == "IntakeQueue"
    assert mapping["BatchSize"] == 100
    assert mapping["MaximumBatchingWindowInSeconds"] == 5
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert "ScalingConfig" not in mapping


def test_notify_consumes_the_notify_queue_with_at_most_two_concurrent_senders(
    resources: dict[str, Any],
) -> None:
    mapping = _mapping_for(resources, "NotifyLambdaFunction")
    assert _target(mapping["EventSourceArn"]) == "NotifyQueue"
    assert mapping["BatchSize"] == 10
    assert mapping["MaximumBatchingWindowInSeconds"] == 1
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": 2}


def test_exactly_seven_encrypted_queues(resources: dict[str, Any]) -> None:
    queues = _of_type(resources, "AWS::SQS::Queue")
    assert set(queues) == {
        *("IntakeQueue", "IntakeDLQ", "NotifyQueue", "NotifyDLQ", "IngestDLQ"),
        *("DigestQueue", "DigestDLQ"),
    }
    for queue in queues.values():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_source_queue_redrives_to_its_dlq_and_outlasts_six_function_timeouts(
    resources: dict[str, Any], function: str
) -> None:
    _, timeout, _, queue, dlq = FUNCTIONS[function]
    props = resources[queue]["Properties"]
    assert props["VisibilityTimeout"] >= 6 * timeout
    assert (
        props["VisibilityTimeout"]
        == {"IntakeQueue": 180, "NotifyQueue": 360, "DigestQueue": 720}[queue]
    )
    assert props["MessageRetentionPeriod"] == 345600
    assert props["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dlq, "Arn"]},
        "maxReceiveCount": 10,
    }


@pytest.mark.parametrize(
    ("dlq", "source"), [("IntakeDLQ", "intake"), ("NotifyDLQ", "notify"), ("DigestDLQ", "digest")]
)
def test_dlq_keeps_14_days_and_accepts_redrive_only_from_its_source(
    resources: dict[str, Any], dlq: str, source: str
) -> None:
    props = resources[dlq]["Properties"]
    assert props["MessageRetentionPeriod"] == 1209600
    assert "RedrivePolicy" not in props
    allow = props["RedriveAllowPolicy"]
    assert allow["redrivePermission"] == "byQueue"
    (arn,) = allow["sourceQueueArns"]
    assert arn["Fn::Sub"].endswith(f":uvqc-lab-{source}")
    source_queue = {"intake": "IntakeQueue", "notify": "NotifyQueue", "digest": "DigestQueue"}[
        source
    ]
    assert resources[source_queue]["Properties"]["QueueName"] == f"uvqc-lab-{source}"


# ------------------------------------------------------------------------------- tables


@pytest.mark.parametrize(
    ("table", "key", "range_key"),
    [("RecordsTable", "recordId", "receivedAt"), ("LedgerTable", "notificationKey", "createdAt")],
)
def test_tables_are_on_demand_recoverable_encrypted_with_a_by_sample_index(
    resources: dict[str, Any], table: str, key: str, range_key: str
) -> None:
    props = resources[table]["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["KeySchema"] == [{"AttributeName": key, "KeyType": "HASH"}]
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"]["SSEEnabled"] is True
    (index,) = props["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "bySample"
    assert index["KeySchema"] == [
        {"AttributeName": "sampleId", "KeyType": "HASH"},
        {"AttributeName": range_key, "KeyType": "RANGE"},
    ]
    assert index["Projection"] == {"ProjectionType": "KEYS_ONLY"}  # cost: docs/PERFORMANCE.md
    types = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
    assert types == {key: "S", "sampleId": "S", range_key: "S"}


def test_only_the_ledger_expires_items_through_the_expiration_attribute(
    resources: dict[str, Any],
) -> None:
    ttl = resources["LedgerTable"]["Properties"]["TimeToLiveSpecification"]
    assert ttl == {"AttributeName": "expiration", "Enabled": True}
    assert "TimeToLiveSpecification" not in resources["RecordsTable"]["Properties"]


def test_lab_tables_go_away_with_the_stack_but_prod_tables_are_kept_and_protected(
    resources: dict[str, Any], prod: Packaged
) -> None:
    prod_resources = prod.template()["Resources"]
    for table in ("RecordsTable", "LedgerTable", "RunsTable"):
        assert resources[table]["DeletionPolicy"] == "Delete"
        assert resources[table]["Properties"]["DeletionProtectionEnabled"] is False
        assert prod_resources[table]["DeletionPolicy"] == "Retain"
        assert prod_resources[table]["UpdateReplacePolicy"] == "Retain"
        assert prod_resources[table]["Properties"]["DeletionProtectionEnabled"] is True
        assert prod_resources[table]["Properties"]["TableName"] == (
            resources[table]["Properties"]["TableName"].replace("-lab-", "-prod-")
        )


# ------------------------------------------------------------------------------- IAM


# Roles not assumed by a function: the service that assumes them, under which condition.
OTHER_TRUST = {
    "DailyScheduleRole": {
        "Principal": {"Service": "scheduler.amazonaws.com"},
        "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
    }
}


def _statements(resources: dict[str, Any], role: str) -> list[dict[str, Any]]:
    props = resources[role]["Properties"]
    assert "ManagedPolicyArns" not in props
    trust = OTHER_TRUST.get(role, {"Principal": {"Service": "lambda.amazonaws.com"}})
    assert props["AssumeRolePolicyDocument"]["Statement"] == [
        {"Effect": "Allow", "Action": "sts:AssumeRole", **trust}
    ]
    return [s for policy in props["Policies"] for s in policy["PolicyDocument"]["Statement"]]


def _grants(resources: dict[str, Any], role: str) -> set[tuple[str, str]]:
    """(action, resource) pairs; a resource is a logical id or the Fn::Sub text of an ARN."""
    grants: set[tuple[str, str]] = set()
    for statement in _statements(resources, role):
        assert statement["Effect"] == "Allow"
        actions = statement["Action"]
        targets = statement["Resource"]
        for action in [actions] if isinstance(actions, str) else actions:
            for target in targets if isinstance(targets, list) else [targets]:
                name = target["Fn::Sub"] if "Fn::Sub" in target else _target(target)
                grants.add((action, name))
    return grants


def _log_arn(function: str) -> str:
    return (
        "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:"
        f"/aws/lambda/uvqc-lab-{function}:*"
    )


CONSUME = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]
CONSUME += ["sqs:ChangeMessageVisibility"]
LOGS = ["logs:CreateLogStream", "logs:PutLogEvents"]
# the run store: results (BatchWriteItem), a run (Query), a decision (TransactWriteItems of
# Put/Update: authorised as PutItem/UpdateItem), a queued notice (UpdateItem)
RUNS_WRITE = ["dynamodb:BatchWriteItem", "dynamodb:Query", "dynamodb:PutItem"]
RUNS_WRITE += ["dynamodb:UpdateItem"]


def test_check_role_grants_exactly_what_the_check_function_calls(
    resources: dict[str, Any],
) -> None:
    assert _grants(resources, "CheckFunctionRole") == {
        *((a, "IntakeQueue") for a in CONSUME),
        ("sqs:SendMessage", "NotifyQueue"),
        ("sqs:SendMessage", "DigestQueue"),  # run digests (the digest function)
        ("sqs:SendMessage", "IntakeDLQ"),
        ("dynamodb:BatchWriteItem", "RecordsTable"),
        ("dynamodb:UpdateItem", "LedgerTable"),  # deduplication windows (issue 8, case 1)
        ("dynamodb:PutItem", "RecordsTable"),
        *((a, "RunsTable") for a in RUNS_WRITE),
        *((a, _log_arn("check")) for a in LOGS),
    }


def test_runs_role_grants_exactly_what_the_runs_function_calls(
    resources: dict[str, Any],
) -> None:
    assert _grants(resources, "RunsFunctionRole") == {
        ("dynamodb:Query", "${RunsTable.Arn}/index/openRuns"),
        *((a, "RunsTable") for a in RUNS_WRITE),
        ("sqs:SendMessage", "NotifyQueue"),
        ("sqs:SendMessage", "DigestQueue"),
        *((a, _log_arn("runs")) for a in LOGS),
    }


def test_notify_role_grants_exactly_what_the_notify_function_calls(
    resources: dict[str, Any],
) -> None:
    prefix = "arn:${AWS::Partition}:{service}:${AWS::Region}:${AWS::AccountId}:"
    ssm = prefix.replace("{service}", "ssm") + "parameter/uvqc/lab/smtp-password"
    ses = prefix.replace("{service}", "ses") + "identity/example.org"
    assert _grants(resources, "NotifyFunctionRole") == {
        *((a, "NotifyQueue") for a in CONSUME),
        ("sqs:SendMessage", "NotifyQueue"),  # a deferred notification's delayed copy
        ("sqs:SendMessage", "NotifyDLQ"),
        ("dynamodb:GetItem", "LedgerTable"),
        ("dynamodb:PutItem", "LedgerTable"),
        ("dynamodb:UpdateItem", "LedgerTable"),
        ("ssm:GetParameter", ssm),
        ("ses:SendRawEmail", ses),
        ("sns:Publish", "NotifyTopic"),
        *((a, _log_arn("notify")) for a in LOGS),
    }


def test_digest_role_is_the_notify_one_on_its_queues_plus_reading_the_runs_table(
    resources: dict[str, Any],
) -> None:
    notify = _grants(resources, "NotifyFunctionRole")
    renamed = {
        (a, {"NotifyQueue": "DigestQueue", "NotifyDLQ": "DigestDLQ"}.get(r, r))
        for a, r in notify
        if r != _log_arn("notify")
    }
    assert _grants(resources, "DigestFunctionRole") == {
        *renamed,
        ("dynamodb:Scan", "RunsTable"),  # RUN items: the history of the run's report
        ("dynamodb:Query", "RunsTable"),  # a run's results
        ("dynamodb:BatchGetItem", "RecordsTable"),  # the scans of flagged samples
        *((a, _log_arn("digest")) for a in LOGS),
    }


def test_daily_role_grants_exactly_what_the_daily_function_calls(
    resources: dict[str, Any],
) -> None:
    assert _grants(resources, "DailyFunctionRole") == {
        ("dynamodb:Scan", "RunsTable"),
        ("dynamodb:Scan", "RecordsTable"),
        ("dynamodb:GetItem", "LedgerTable"),  # daily#<lab>#<date> marks
        ("dynamodb:PutItem", "LedgerTable"),
        ("sqs:SendMessage", "NotifyQueue"),
        ("sqs:GetQueueAttributes", "NotifyDLQ"),
        *((a, _log_arn("daily")) for a in LOGS),
    }


def test_the_daily_digest_schedule_is_off_by_default_in_the_labs_time_zone(
    resources: dict[str, Any],
) -> None:
    (schedule,) = _of_type(resources, "AWS::Scheduler::Schedule").values()
    props = schedule["Properties"]
    assert props["State"] == "DISABLED"  # param dailyDigest: false
    assert props["ScheduleExpression"] == "cron(0 7 * * ? *)"
    assert props["ScheduleExpressionTimezone"] == "UTC"
    assert props["Target"] == {
        "Arn": {"Fn::GetAtt": ["DailyLambdaFunction", "Arn"]},
        "RoleArn": {"Fn::GetAtt": ["DailyScheduleRole", "Arn"]},
    }
    assert _grants(resources, "DailyScheduleRole") == {
        ("lambda:InvokeFunction", "DailyLambdaFunction")
    }
    env = resources["DailyLambdaFunction"]["Properties"]["Environment"]["Variables"]
    assert env == {
        **COMMON_ENV,
        "UVQC_NOTIFY_QUEUE_URL": {"Ref": "NotifyQueue"},
        "UVQC_NOTIFY_DLQ_URL": {"Ref": "NotifyDLQ"},
        "UVQC_RUNS_TABLE": {"Ref": "RunsTable"},
        "UVQC_RECORDS_TABLE": {"Ref": "RecordsTable"},
        "UVQC_LEDGER_TABLE": {"Ref": "LedgerTable"},
        "UVQC_DAILY_DIGEST_TIMEZONE": "UTC",
        "UVQC_DAILY_DIGEST_LAB": "lab",
    }


def test_no_role_uses_wildcard_actions_or_resources(resources: dict[str, Any]) -> None:
    for role in _of_type(resources, "AWS::IAM::Role"):
        for statement in _statements(resources, role):
            actions, targets = statement["Action"], statement["Resource"]
            for action in [actions] if isinstance(actions, str) else actions:
                assert "*" not in action, (role, action)
            for target in targets if isinstance(targets, list) else [targets]:
                assert target != "*", role
                arn = target.get("Fn::Sub", "")
                # the only wildcards allowed: the log-stream suffix of a log group ARN, and
                # the key prefix of an S3 object ARN (inbox/*, rejected/*)
                arn = re.sub(r":s3:::[^/]+/[a-z]+/\*$", ":s3:::bucket/prefix/", arn)
                assert "*" not in arn.removesuffix(":*"), (role, arn)


# ------------------------------------------------------------------------------- alarms


def test_alarm_topic_and_notify_topic_are_kms_encrypted(resources: dict[str, Any]) -> None:
    topics = _of_type(resources, "AWS::SNS::Topic")
    assert set(topics) == {"AlarmTopic", "NotifyTopic"}
    assert all(t["Properties"]["KmsMasterKeyId"] == "alias/aws/sns" for t in topics.values())


def test_alarm_email_subscription_exists_only_when_an_address_is_given(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    subscription = resources["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == {"Ref": "AlarmEmail"}
    assert template["Parameters"]["AlarmEmail"]["Default"] == ""
    assert template["Conditions"]["HasAlarmEmail"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]
    }


EXPECTED_ALARMS = {
    # (namespace, metric, watched resource): threshold
    ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "IntakeDLQ"): 0,
    ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "NotifyDLQ"): 0,
    ("AWS/SQS", "ApproximateAgeOfOldestMessage", "IntakeQueue"): 900,
    ("AWS/SQS", "ApproximateAgeOfOldestMessage", "NotifyQueue"): 1800,
    ("AWS/Lambda", "Errors", "CheckLambdaFunction"): 0,
    ("AWS/Lambda", "Throttles", "CheckLambdaFunction"): 0,
    ("AWS/Lambda", "Errors", "NotifyLambdaFunction"): 0,
    ("AWS/Lambda", "Throttles", "NotifyLambdaFunction"): 0,
    ("AWS/Lambda", "Errors", "RunsLambdaFunction"): 0,
    ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "IngestDLQ"): 0,
    ("AWS/Lambda", "Errors", "IngestLambdaFunction"): 0,
    ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "DigestDLQ"): 0,
    ("AWS/Lambda", "Errors", "DigestLambdaFunction"): 0,
    ("AWS/Lambda", "Errors", "DailyLambdaFunction"): 0,
}


def test_alarms_cover_dlqs_queue_age_errors_and_throttles_and_page_the_alarm_topic(
    resources: dict[str, Any],
) -> None:
    found = {}
    for alarm in _of_type(resources, "AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        (dimension,) = props["Dimensions"]
        key = (props["Namespace"], props["MetricName"], _target(dimension["Value"]))
        found[key] = props["Threshold"]
        assert props["ComparisonOperator"] == "GreaterThanThreshold"
        assert props["TreatMissingData"] == "notBreaching"
        assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}]
        assert props["EvaluationPeriods"] >= 1
        assert "RUNBOOK" in props["AlarmDescription"]
        if props["Namespace"] == "AWS/SQS":
            assert dimension["Name"] == "QueueName"
            assert props["Statistic"] == "Maximum"
        else:
            assert dimension["Name"] == "FunctionName"
            assert props["Statistic"] == "Sum"
    assert found == EXPECTED_ALARMS


def test_no_alarm_watches_number_of_messages_sent(resources: dict[str, Any]) -> None:
    # Redriven messages are not counted in NumberOfMessagesSent (AWS.md).
    alarms = _of_type(resources, "AWS::CloudWatch::Alarm").values()
    assert all(a["Properties"]["MetricName"] != "NumberOfMessagesSent" for a in alarms)


def test_dashboard_shows_queues_dlqs_functions_and_every_emf_metric(
    resources: dict[str, Any],
) -> None:
    body, variables = resources["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    assert {_target(v) for v in variables.values()} == {
        "IntakeQueue",
        "NotifyQueue",
        "IntakeDLQ",
        "NotifyDLQ",
        "CheckLambdaFunction",
        "NotifyLambdaFunction",
        "DigestDLQ",
        "DigestLambdaFunction",
    }
    rendered = re.sub(r"\$\{([^}]+)\}", r"<\1>", body)
    widgets = json.loads(rendered)["widgets"]
    lines = [m for w in widgets for m in w["properties"]["metrics"]]
    plain = {(m[0], m[1], m[3]) for m in lines if isinstance(m[0], str)}
    queue_vars = {k for k, v in variables.items() if _target(v).endswith(("Queue", "DLQ"))}
    for var in queue_vars:
        assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible", f"<{var}>") in plain
    for var in ("IntakeName", "NotifyName"):
        assert ("AWS/SQS", "ApproximateAgeOfOldestMessage", f"<{var}>") in plain
    for var in ("CheckName", "NotifyFunctionName"):
        for metric in ("Errors", "Throttles", "Duration"):
            assert ("AWS/Lambda", metric, f"<{var}>") in plain
    searches = [m[0]["expression"] for m in lines if isinstance(m[0], dict)]
    shown = set()
    for search in searches:
        match = re.fullmatch(
            r"SEARCH\('\{uvqc,[a-z_,]+\} MetricName=\"(\w+)\"', 'Sum', \d+\)", search
        )
        assert match, search
        shown.add(match.group(1))
    assert shown == set(EMF_METRICS)


def test_outputs_name_the_queues_tables_and_alarm_topic(template: dict[str, Any]) -> None:
    outputs = {name: _target(o["Value"]) for name, o in template["Outputs"].items()}
    expected = {
        "IntakeQueueUrl": "IntakeQueue",
        "NotifyQueueUrl": "NotifyQueue",
        "IntakeDLQUrl": "IntakeDLQ",
        "NotifyDLQUrl": "NotifyDLQ",
        "DigestQueueUrl": "DigestQueue",
        "DigestDLQUrl": "DigestDLQ",
        "RecordsTableName": "RecordsTable",
        "LedgerTableName": "LedgerTable",
        "RunsTableName": "RunsTable",
        "AlarmTopicArn": "AlarmTopic",
    }
    assert expected.items() <= outputs.items()
    assert all("Ref" in template["Outputs"][name]["Value"] for name in expected)
