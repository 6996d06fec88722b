"""Which router prompt version is promoted: the MLflow `production` alias, asked over MLflow's REST API.

The routing job starts with the promoted version rather than a version typed into settings, so a
restart (or a start after the state was cleared) does not quietly route with an older prompt. This
module speaks plain HTTP with httpx, so the job needs neither the mlflow package nor the lab (`evals`),
which writes the alias (`sdr-pipeline prompts promote`). Each registry version carries a
`file_version` tag (`v6`) and a `template_hash` tag; a version is used only if the prompt file of
that version is here with the very same text.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from sdr_pipeline.router.prompt import RouterPrompt

__all__ = ["FILE_VERSION_TAG", "HASH_TAG", "PRODUCTION_ALIAS", "StartVersion", "promoted_version", "start_version"]

logger = logging.getLogger(__name__)

PRODUCTION_ALIAS = "production"
"""The alias `sdr-pipeline prompts promote` moves; the lab's prompt registry uses these names too."""
FILE_VERSION_TAG = "file_version"
HASH_TAG = "template_hash"


@dataclass(frozen=True)
class StartVersion:
    """The prompt version a job starts with, and why that one."""

    version: str
    """A version present in the prompt files (`v6`)."""
    source: str
    """`mlflow` (the production alias) or `settings` (router_prompt_version)."""
    reason: str
    """One sentence for the start-up log."""


def promoted_version(tracking_uri: str, name: str, *, timeout_s: float,
                     client: httpx.Client | None = None) -> tuple[str, str] | None:
    """The (file_version, template_hash) the `production` alias of prompt `name` points at; None if no alias.

    Raises httpx.HTTPError when the tracking server does not answer or answers with an error.
    """
    url = tracking_uri.rstrip("/") + "/api/2.0/mlflow/registered-models/alias"
    params = {"name": name, "alias": PRODUCTION_ALIAS}
    if client is None:
        with httpx.Client(timeout=timeout_s) as own:
            response = own.get(url, params=params)
    else:
        response = client.get(url, params=params, timeout=timeout_s)
    if response.status_code == 404 or (response.status_code == 400 and "RESOURCE_DOES_NOT_EXIST" in response.text):
        return None
    response.raise_for_status()
    tags = {tag.get("key"): tag.get("value") for tag in response.json().get("model_version", {}).get("tags", [])}
    file_version = tags.get(FILE_VERSION_TAG)
    return (file_version, tags.get(HASH_TAG) or "") if file_version else None


def start_version(prompts: Mapping[tuple[str, str], RouterPrompt], name: str, fallback: str, *, tracking_uri: str,
                  timeout_s: float, client: httpx.Client | None = None) -> StartVersion:
    """The promoted version of prompt `name` when MLflow names one that is here unchanged, else `fallback`.

    Never raises for MLflow's sake: a tracking server that is down, slow or without the alias only means
    the job starts with `fallback`, and the reason says which case it was and what to do.
    """
    where = f"MLflow at {tracking_uri}"
    try:
        promoted = promoted_version(tracking_uri, name, timeout_s=timeout_s, client=client)
    except (httpx.HTTPError, ValueError) as error:  # ValueError: a body that is not JSON
        return StartVersion(fallback, "settings", f"{where} did not answer ({type(error).__name__}: {error}); "
                            f"using router_prompt_version {fallback} (start MLflow with `sdr-pipeline infra up`)")
    if promoted is None:
        return StartVersion(fallback, "settings", f"prompt '{name}' has no '{PRODUCTION_ALIAS}' alias in {where}; "
                            f"using router_prompt_version {fallback} (promote one: `sdr-pipeline prompts promote`)")
    version, template_hash = promoted
    prompt = prompts.get((name, version))
    if prompt is None:
        return StartVersion(fallback, "settings", f"{where} promotes '{name}' {version}, which is not among the "
                            f"prompt files here; using router_prompt_version {fallback} (deploy the prompt files "
                            "of the promoted version)")
    if template_hash and template_hash != prompt.hash:
        return StartVersion(fallback, "settings", f"{where} promotes '{name}' {version}, but the file here has "
                            f"other text (hash {prompt.hash[:12]}, promoted {template_hash[:12]}); using "
                            f"router_prompt_version {fallback} (deploy the promoted files, or register and "
                            "promote these)")
    return StartVersion(version, "mlflow", f"{where} promotes '{name}' {version} ('{PRODUCTION_ALIAS}' alias)")
