"""The AWS runtime of uvqc: Lambda entry points (`check_handler`, `notify_handler`) and the
CLI's `--aws` operations (`ops`). Handlers are thin: SQS event -> pipeline stage ->
partial batch response; the adapters live in `uvqc.adapters` (sqs, dynamodb, ses, sns, ssm).
"""
