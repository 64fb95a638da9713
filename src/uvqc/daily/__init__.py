"""The daily digest: one e-mail per lab day (runs of the day, runs still open, flagged and
rejected results outside runs, the notify DLQ depth), on both runtimes.

`digest` is the pure core (stdlib only, no plotting: the AWS functions ship it); `send`
queues it through the ports (a DaySource, DailyMarks, the notify queue). Its own package, not
uvqc.digest: that one draws figures and is left out of the Lambda artifact.
"""
