"""sdr-pipeline: an event-driven multi-agent orchestrator on Kafka and Flink, with an evaluation lab."""

import logging

__version__ = "0.1.0"
__all__ = ["__version__"]

# Library code never configures logging; the CLI does.
logging.getLogger(__name__).addHandler(logging.NullHandler())
