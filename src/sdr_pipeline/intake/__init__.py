"""Intake: how leads and replies enter the pipeline (form, JSON endpoint, e-mail webhook, bridge)."""

from sdr_pipeline.intake.app import create_app, field_errors
from sdr_pipeline.intake.bridge import BridgeCount, forward, run_bridge
from sdr_pipeline.intake.form import render_form, render_thanks
from sdr_pipeline.intake.leads import KnownLead, LeadStore
from sdr_pipeline.intake.service import build_app, process_spec, serve

__all__ = [
    "BridgeCount",
    "KnownLead",
    "LeadStore",
    "build_app",
    "create_app",
    "field_errors",
    "forward",
    "process_spec",
    "render_form",
    "render_thanks",
    "run_bridge",
    "serve",
]
