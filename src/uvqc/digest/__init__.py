"""Digest e-mails: one e-mail per run (and optionally per day) instead of one per result.

`compose` builds the multipart message (text + HTML with inline PNG figures by Content-ID,
the run report attached when it fits); the text part alone is complete.
"""
