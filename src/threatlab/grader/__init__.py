"""Batch autograding of submissions, sandboxed and tamper-evident (``threatlab-grade``).

The trusted parent (:mod:`threatlab.grader.cli`) discovers and validates submissions, detects tampering
(:mod:`threatlab.grader.checks`), and runs one sandboxed worker (:mod:`threatlab.grader.worker`) per
submission through :mod:`threatlab.grader.sandbox`. See ``grader/README.md`` for the threat model.
"""
