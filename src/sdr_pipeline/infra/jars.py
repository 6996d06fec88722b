"""Java jars from Maven Central, resolved by Maven into a cache outside the repo.

Each purpose (the Kafka broker's classpath, the Flink job's connector) has a pom kept
in `infra/maven/`; `fetch` runs Maven once per purpose and version and then writes a
manifest, so a later call only checks that the manifest's jars are there and intact.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import subprocess
import zipfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from sdr_pipeline.exceptions import InfraError
from sdr_pipeline.settings import Settings

__all__ = ["JarSet", "fetch", "flink_jars", "jar_sets", "kafka_classpath"]

logger = logging.getLogger(__name__)

_MANIFEST = "manifest.json"


@dataclass(frozen=True)
class JarSet:
    """A folder of jars resolved from one pom."""

    name: str
    pom: str
    """File name under sdr_pipeline/infra/maven/."""
    properties: dict[str, str]
    """Maven -D properties: the versions, taken from settings."""
    transitive: bool
    folder: Path

    def jars(self) -> list[Path]:
        """The verified jars; raises if `fetch` has not completed for this set."""
        manifest = self.folder / _MANIFEST
        if not manifest.exists():
            raise InfraError(f"{self.name} jars", f"not downloaded yet ({self.folder})", fix="run `make deps`")
        return [self.folder / name for name in json.loads(manifest.read_text())["jars"]]


def jar_sets(settings: Settings) -> tuple[JarSet, ...]:
    return (
        JarSet("kafka", "kafka.pom.xml", {"kafka.version": settings.kafka_version}, True,
               settings.jars_dir / f"kafka-{settings.kafka_version}"),
        JarSet("flink", "flink.pom.xml", {"flink.kafka.connector.version": settings.flink_kafka_connector_version},
               False, settings.jars_dir / f"flink-{settings.flink_kafka_connector_version}"),
    )


def _jar_is_intact(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip() is None
    except (zipfile.BadZipFile, OSError):
        return False


def _manifest_ok(jar_set: JarSet) -> bool:
    manifest = jar_set.folder / _MANIFEST
    if not manifest.exists():
        return False
    entries = json.loads(manifest.read_text())
    for name, size in entries["sizes"].items():
        path = jar_set.folder / name
        if not path.exists() or path.stat().st_size != size:
            return False
    return True


def fetch(settings: Settings) -> list[JarSet]:
    """Make sure every jar set is present; runs Maven only for what is missing or damaged."""
    sets = list(jar_sets(settings))
    for jar_set in sets:
        if _manifest_ok(jar_set):
            logger.debug("%s jars present in %s", jar_set.name, jar_set.folder)
            continue
        _resolve(jar_set, settings)
    return sets


def _resolve(jar_set: JarSet, settings: Settings) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise InfraError("maven", "the `mvn` command is not installed", fix="apt-get install -y maven (needs a JDK 17)")
    if shutil.which("java") is None:
        raise InfraError("java", "no Java runtime found", fix="apt-get install -y openjdk-17-jdk-headless")
    staging = jar_set.folder.with_name(jar_set.folder.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    with resources.as_file(resources.files("sdr_pipeline.infra") / "maven" / jar_set.pom) as pom:
        argv = [
            mvn, "-B", "-q", f"-Dmaven.repo.local={settings.maven_repo}", "-f", str(pom),
            "dependency:copy-dependencies", f"-DoutputDirectory={staging}", "-DincludeScope=runtime",
            *(["-DexcludeTransitive=true"] if not jar_set.transitive else []),
            *(f"-D{key}={value}" for key, value in jar_set.properties.items()),
        ]
        logger.info("resolving %s jars with Maven (%s)", jar_set.name, ", ".join(f"{k}={v}" for k, v in jar_set.properties.items()))
        result = subprocess.run(argv, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-15:])
        raise InfraError(f"{jar_set.name} jars", "Maven could not resolve them",
                         fix="check the network to the Maven registry and the versions in settings", log_tail=tail)
    jars = sorted(path.name for path in staging.glob("*.jar"))
    broken = [name for name in jars if not _jar_is_intact(staging / name)]
    if broken or not jars:
        shutil.rmtree(staging, ignore_errors=True)
        # A corrupt download sits in the local Maven repository too: drop it so the next run fetches it again.
        for name in broken:
            for cached in settings.maven_repo.rglob(name):
                cached.unlink(missing_ok=True)
        raise InfraError(f"{jar_set.name} jars", f"corrupt or missing jars: {', '.join(broken) or 'none resolved'}",
                         fix="run `make deps` again; the damaged files were removed from the cache")
    sizes = {name: (staging / name).stat().st_size for name in jars}
    digest = hashlib.sha256("".join(f"{n}:{s}" for n, s in sizes.items()).encode()).hexdigest()
    (staging / _MANIFEST).write_text(json.dumps({"jars": jars, "sizes": sizes, "digest": digest}, indent=1))
    shutil.rmtree(jar_set.folder, ignore_errors=True)
    staging.rename(jar_set.folder)
    logger.info("%s jars ready: %d files in %s", jar_set.name, len(jars), jar_set.folder)


def kafka_classpath(settings: Settings) -> str:
    """The broker's Java classpath."""
    return ":".join(str(path) for path in jar_sets(settings)[0].jars())


def flink_jars(settings: Settings) -> list[Path]:
    """Jars to put on `pipeline.jars` of a PyFlink job."""
    return jar_sets(settings)[1].jars()
