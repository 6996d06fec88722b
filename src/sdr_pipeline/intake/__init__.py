"""Intake: how leads and replies enter the pipeline (form, JSON endpoint, e-mail webhook, bridge)."""

from sdr_pipeline.intake.app import IntakeHealth, create_app, field_errors
from sdr_pipeline.intake.bridge import Bridge, BridgeCount, BridgeMonitor, BridgeStatus, bridge_record, forward
from sdr_pipeline.intake.form import render_form, render_thanks
from sdr_pipeline.intake.leads import Admission, KnownLead, LeadStore
from sdr_pipeline.intake.rate_limits import RateLimits
from sdr_pipeline.intake.service import build_app, process_spec, serve

__all__ = [
    "Admission",
    "Bridge",
    "BridgeCount",
    "BridgeMonitor",
    "BridgeStatus",
    "IntakeHealth",
    "KnownLead",
    "LeadStore",
    "RateLimits",
    "bridge_record",
    "build_app",
    "create_app",
    "field_errors",
    "forward",
    "process_spec",
    "render_form",
    "render_thanks",
    "serve",
]
