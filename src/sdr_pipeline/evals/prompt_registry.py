"""The MLflow Prompt Registry as a mirror of the prompt files, plus the `production` alias.

The files under prompts/<name>/ stay the source of truth (the router and the Flink job
load them); the registry records which text existed when, and which one is live.
Each registry version carries two tags: `file_version` (`v2`) and `template_hash`
(sha256 of the template). `sync` is idempotent: a file whose version and hash are
already registered is skipped, so a new registry version appears only when a file is
new or changed. The alias `production` names the registry version the running job uses.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from sdr_pipeline.evals.tracking import mlflow_client
from sdr_pipeline.exceptions import UserError
from sdr_pipeline.router.promoted import FILE_VERSION_TAG, HASH_TAG, PRODUCTION_ALIAS

if TYPE_CHECKING:
    from mlflow.entities.model_registry import PromptVersion

    from sdr_pipeline.router import RouterPrompt

__all__ = ["PRODUCTION_ALIAS", "PromptRegistry", "RegisteredVersion", "SyncOutcome"]

logger = logging.getLogger(__name__)

POOL_TAG = "example_pool_sha256"
"""Tag of a version that shows retrieved examples: the pool they come from."""


@dataclass(frozen=True)
class RegisteredVersion:
    """One registry version of a prompt and the file it mirrors."""

    name: str
    registry_version: int
    """MLflow's own counter: 1, 2, 3 ... (a changed file gets a new one)."""
    file_version: str
    """The prompt file it mirrors (`v2`)."""
    template_hash: str
    aliases: tuple[str, ...]
    created_ms: int
    description: str = ""
    tags: tuple[tuple[str, str], ...] = ()

    @property
    def uri(self) -> str:
        return f"prompts:/{self.name}/{self.registry_version}"


@dataclass(frozen=True)
class SyncOutcome:
    """What `sync` did with one prompt file."""

    file_version: str
    registry_version: int
    status: Literal["registered", "unchanged", "changed"]
    """`registered`: new file; `unchanged`: already mirrored; `changed`: the file's text differs from what was
    registered before under the same file version (a new registry version records it)."""
    template_hash: str


def _registered(version: PromptVersion) -> RegisteredVersion:
    tags = dict(version.tags or {})
    return RegisteredVersion(
        name=version.name, registry_version=int(version.version), file_version=tags.get(FILE_VERSION_TAG, ""),
        template_hash=tags.get(HASH_TAG, ""), aliases=tuple(sorted(version.aliases or ())),
        created_ms=int(version.creation_timestamp or 0), description=version.commit_message or "",
        tags=tuple(sorted((key, value) for key, value in tags.items() if not key.startswith("mlflow."))),
    )


class PromptRegistry:
    """Mirror prompt files into MLflow and manage the `production` alias."""

    def __init__(self, tracking_uri: str) -> None:
        self.tracking_uri = tracking_uri
        self._client = mlflow_client(tracking_uri)

    def versions(self, name: str) -> list[RegisteredVersion]:
        """Every registry version of prompt `name`, oldest first (empty if it was never registered)."""
        if self._client.get_prompt(name) is None:
            return []
        found: list[RegisteredVersion] = []
        page_token = None
        while True:
            page = self._client.search_prompt_versions(name, max_results=100, page_token=page_token)
            # search results may leave aliases out; the single-version lookup has them
            found.extend(_registered(self._client.get_prompt_version(name, item.version)) for item in page)
            page_token = getattr(page, "token", None)
            if not page_token:
                break
        return sorted(found, key=lambda version: version.registry_version)

    def sync(self, prompts: Sequence[RouterPrompt], *, pool_hash: str | None = None) -> list[SyncOutcome]:
        """Register every file whose (version, hash) is not in the registry yet; idempotent.

        A version that shows retrieved examples is pinned by its template hash *and* `pool_hash`
        (the example pool's sha256, a tag of the registry version): a new pool is a new version.
        """
        outcomes = []
        for prompt in prompts:
            pool = pool_hash if prompt.uses_examples else None
            existing = [v for v in self.versions(prompt.name) if v.file_version == prompt.version]
            same = [v for v in existing if v.template_hash == prompt.hash and dict(v.tags).get(POOL_TAG) == pool]
            if same:
                outcomes.append(SyncOutcome(prompt.version, same[-1].registry_version, "unchanged", prompt.hash))
                continue
            registered = self._client.register_prompt(
                prompt.name, prompt.chat_template(), commit_message=prompt.description,
                tags={FILE_VERSION_TAG: prompt.version, HASH_TAG: prompt.hash, "date": prompt.date,
                      "variables": ",".join(prompt.variables), "source": str(prompt.path or ""),
                      "answer": prompt.answer, **({POOL_TAG: pool} if pool else {})},
            )
            status: Literal["registered", "changed"] = "changed" if existing else "registered"
            logger.info("prompt %s %s -> registry version %s (%s, hash %s)", prompt.name, prompt.version,
                        registered.version, status, prompt.hash[:12])
            outcomes.append(SyncOutcome(prompt.version, int(registered.version), status, prompt.hash))
        return outcomes

    def find(self, name: str, file_version: str, template_hash: str) -> RegisteredVersion:
        """The registry version mirroring exactly this file text; an error says how to register it."""
        for version in reversed(self.versions(name)):
            if version.file_version == file_version and version.template_hash == template_hash:
                return version
        raise UserError(f"prompt '{name}' {file_version} (hash {template_hash[:12]}) is not in the MLflow Prompt "
                        f"Registry at {self.tracking_uri}", fix="run `sdr-pipeline prompts register` first")

    def by_alias(self, name: str, alias: str) -> RegisteredVersion:
        """The version an alias points at; a missing alias is a UserError naming the fix."""
        from mlflow.exceptions import MlflowException

        try:
            version = self._client.get_prompt_version_by_alias(name, alias)
        except MlflowException:
            version = None
        if version is None:
            raise UserError(f"prompt '{name}' has no alias '{alias}' in {self.tracking_uri}",
                            fix=f"promote a version first: `sdr-pipeline prompts promote {name} VERSION`")
        return _registered(version)

    def alias_or_none(self, name: str, alias: str) -> RegisteredVersion | None:
        try:
            return self.by_alias(name, alias)
        except UserError:
            return None

    def set_alias(self, name: str, alias: str, registry_version: int) -> None:
        self._client.set_prompt_alias(name, alias, registry_version)
        logger.info("prompt %s alias %s -> registry version %d", name, alias, registry_version)

    def tag_version(self, name: str, registry_version: int, tags: dict[str, str]) -> None:
        for key, value in tags.items():
            self._client.set_prompt_version_tag(name, registry_version, key, value)
