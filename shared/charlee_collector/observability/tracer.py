"""The X-Ray tracer: httpx, pg8000 and botocore calls become subsegments (off with POWERTOOLS_TRACE_DISABLED).

The httpx patch would add X-Amzn-Trace-Id to every fetch; fetching/client.py keeps it from platforms.
"""

from __future__ import annotations

from aws_lambda_powertools import Tracer

from charlee_collector.observability.service import service

# httpx and pg8000 calls become X-Ray subsegments; POWERTOOLS_TRACE_DISABLED=true turns tracing off.
tracer = Tracer(service=service(), patch_modules=("httpx", "pg8000", "botocore"))
