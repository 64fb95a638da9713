"""One Lambda cold start, measured from inside a fresh interpreter (run by bench.cold_start
as `python -I -c <this file's text> ARGS.json`, so it sees only the paths it is given: the
unzipped artifact as shipped and the runtime's boto3, never the project's virtualenv).

It imports the handler module (for the original: `import json, os, boto3` and its module-
level client), builds the wiring (uvqc: settings, clients, channel), runs the first
invocation, then warm invocations, and writes wall and CPU times to a JSON file. Logging
is as shipped: Powertools at INFO, JSON lines to stdout (the parent keeps them in a file
and counts their bytes).
"""

import json
import sys
import time

T0 = time.perf_counter()
C0 = time.process_time()

ORIGINAL_CHECK = """
import json, os, boto3

client = boto3.client("lambda")


def handler(event, context):
    record = event["Records"][0]  # the original handled only the first record of a batch
    body = json.loads(record["body"])
    sample = body["sampleId"]
    value = float(body.get("absorbanceResult", body.get("absorbance")))
    if value >= 1.0:
        text = f"Absorbance for {sample} exceeds 1. Consider diluting the sample."
    elif not 0 < value < 0.67:
        text = (f"Absorbance for {sample} with a measured value of {value} does not fall "
                "within the calibration curve.")
    else:
        return {"statusCode": 200}
    client.invoke(FunctionName=os.environ["NOTIFIER_FUNCTION"], InvocationType="Event",
                  Payload=json.dumps({"sampleId": sample, "message": text}))
    return {"statusCode": 200}
"""

ORIGINAL_NOTIFIER = """
import json, os, boto3

client = boto3.client("ses")


def handler(event, context):
    sample, text = event["sampleId"], event["message"]
    client.send_email(
        Source=os.environ["MAIL_FROM"],
        Destination={"ToAddresses": [os.environ["MAIL_TO"]]},
        Message={"Subject": {"Data": f"Data Quality Issue for {sample}"},
                 "Body": {"Text": {"Data": text}}},
    )
    return {"statusCode": 200}
"""


class Context:
    function_name = "bench-fn"
    memory_limit_in_mb = 128
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:bench-fn"
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    log_group_name = "/aws/lambda/bench-fn"
    log_stream_name = "2026/11/29/[$LATEST]0"

    def get_remaining_time_in_millis(self):
        return 60_000


def load_original(source):
    namespace = {"__name__": "original_handler"}
    exec(compile(source, "original_handler.py", "exec"), namespace)
    return namespace


def main():
    with open(sys.argv[1]) as f:
        args = json.load(f)
    sys.path[:0] = args["paths"]
    kind = args["kind"]
    context = Context()
    t = time.perf_counter()
    if kind == "uvqc-check":
        from uvqc.aws import check_handler as module

        handler = module.handler
    elif kind == "uvqc-notify":
        from uvqc.aws import notify_handler as module

        handler = module.handler
    else:
        module = None
        namespace = load_original(ORIGINAL_CHECK if kind == "original-check" else ORIGINAL_NOTIFIER)
        handler = namespace["handler"]
    import_s = time.perf_counter() - t
    t = time.perf_counter()
    if module is not None:
        module.wiring()  # settings, boto3 session and clients, channel
    wiring_s = time.perf_counter() - t
    with open(args["events"]) as f:
        events = json.load(f)
    t = time.perf_counter()
    handler(events[0], context)
    first_s = time.perf_counter() - t
    cold_wall = time.perf_counter() - T0
    cold_cpu = time.process_time() - C0
    warm_wall, warm_cpu = [], []
    for event in events[1:]:
        t, c = time.perf_counter(), time.process_time()
        handler(event, context)
        warm_wall.append(time.perf_counter() - t)
        warm_cpu.append(time.process_time() - c)
    with open(args["out"], "w") as f:
        json.dump(
            {
                "python": ".".join(map(str, sys.version_info[:3])),
                "import_s": import_s,
                "wiring_s": wiring_s,
                "first_s": first_s,
                "cold_s": cold_wall,
                "cold_cpu_s": cold_cpu,
                "warm_wall_s": warm_wall,
                "warm_cpu_s": warm_cpu,
            },
            f,
        )


main()
