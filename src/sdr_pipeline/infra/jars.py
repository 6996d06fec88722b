"""Java jars from Maven Central, resolved by Maven into a cache outside the repo.

The Kafka broker's classpath is resolved with its dependencies from a pom kept in
`infra/maven/`; the Flink jars are shaded, self-contained artifacts copied by coordinate
(flink-model-openai's parent pom is not published, so its dependency tree cannot be read).
`fetch` runs Maven once per set and version and then writes a manifest, so a later call
only checks that the manifest's jars are there and intact. One small jar of our own
(`infra/java/`: the routing job's keyed record serializer) is compiled with javac against
those jars, once per source hash, into the same cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import subprocess
import zipfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from sdr_pipeline.exceptions import InfraError
from sdr_pipeline.settings import Settings

__all__ = ["JarSet", "fetch", "flink_jars", "flink_sql_jars", "jar_sets", "kafka_classpath", "own_jar"]

logger = logging.getLogger(__name__)

_MANIFEST = "manifest.json"
_FLINK_VERSION = "2.2.0"
"""flink-model-openai is released with Flink itself; 2.2.0 matches the apache-flink 2.2 wheel."""


@dataclass(frozen=True)
class JarSet:
    """A folder of jars resolved from one pom."""

    name: str
    folder: Path
    pom: str | None = None
    """File name under sdr_pipeline/infra/maven/, resolved with its dependencies."""
    properties: dict[str, str] = field(default_factory=dict)
    """Maven -D properties for the pom: the versions, taken from settings."""
    artifacts: tuple[str, ...] = ()
    """group:artifact:version coordinates copied alone (shaded jars)."""

    def jars(self) -> list[Path]:
        """The verified jars; raises if `fetch` has not completed for this set."""
        manifest = self.folder / _MANIFEST
        if not manifest.exists():
            raise InfraError(f"{self.name} jars", f"not downloaded yet ({self.folder})", fix="run `make deps`")
        return [self.folder / name for name in json.loads(manifest.read_text())["jars"]]


def jar_sets(settings: Settings) -> tuple[JarSet, ...]:
    connector = settings.flink_kafka_connector_version
    return (
        JarSet("kafka", settings.jars_dir / f"kafka-{settings.kafka_version}", pom="kafka.pom.xml",
               properties={"kafka.version": settings.kafka_version}),
        JarSet("flink", settings.jars_dir / f"flink-{connector}",
               artifacts=(f"org.apache.flink:flink-sql-connector-kafka:{connector}",)),
        JarSet("flink-sql", settings.jars_dir / f"flink-sql-{_FLINK_VERSION}",
               artifacts=(f"org.apache.flink:flink-model-openai:{_FLINK_VERSION}",)),
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
    own_jar(settings)
    return sets


def _java_sources() -> list[Path]:
    root = Path(str(resources.files("sdr_pipeline.infra") / "java"))
    return sorted(root.rglob("*.java"))


def own_jar(settings: Settings) -> Path:
    """Our own Flink classes as a jar, compiled with javac against flink-dist and the Kafka connector once per
    source hash (a changed source builds a new jar beside the old one)."""
    sources = _java_sources()
    digest = hashlib.sha256(b"".join(path.read_bytes() for path in sources)).hexdigest()[:12]
    jar = settings.jars_dir / f"sdr-flink-{digest}" / "sdr-flink.jar"
    if _jar_is_intact(jar):
        return jar
    javac, packer = shutil.which("javac"), shutil.which("jar")
    if javac is None or packer is None:
        raise InfraError("javac", "not found: the routing job's Kafka record serializer is compiled from "
                         "src/sdr_pipeline/infra/java", fix="install a JDK 17 (`make system-deps` does)")
    import pyflink

    dist = sorted((Path(pyflink.__file__).parent / "lib").glob("flink-dist-*.jar"))
    classpath = ":".join(str(path) for path in [*dist, *jar_sets(settings)[1].jars()])
    staging = jar.parent.with_name(jar.parent.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "classes").mkdir(parents=True)
    for argv in ([javac, "--release", "17", "-nowarn", "-cp", classpath, "-d", str(staging / "classes"),
                  *map(str, sources)],
                 [packer, "cf", str(staging / jar.name), "-C", str(staging / "classes"), "."]):
        done = subprocess.run(argv, capture_output=True, text=True)
        if done.returncode != 0:
            raise InfraError("javac", f"could not build {jar.name}: {(done.stderr or done.stdout).strip()[-800:]}",
                             fix="check the JDK (17) and run `make deps` again")
    shutil.rmtree(staging / "classes")
    shutil.rmtree(jar.parent, ignore_errors=True)
    staging.rename(jar.parent)
    logger.info("built %s from %d Java source(s)", jar, len(sources))
    return jar


def _resolve(jar_set: JarSet, settings: Settings) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise InfraError("maven", "the `mvn` command is not installed", fix="apt-get install -y maven (needs a JDK 17)")
    if shutil.which("java") is None:
        raise InfraError("java", "no Java runtime found", fix="apt-get install -y openjdk-17-jdk-headless")
    staging = jar_set.folder.with_name(jar_set.folder.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    common = [mvn, "-B", "-q", f"-Dmaven.repo.local={settings.maven_repo}"]
    logger.info("resolving %s jars with Maven (%s)", jar_set.name,
                ", ".join([*jar_set.artifacts, *(f"{k}={v}" for k, v in jar_set.properties.items())]))
    if jar_set.pom is not None:
        with resources.as_file(resources.files("sdr_pipeline.infra") / "maven" / jar_set.pom) as pom:
            result = subprocess.run(  # noqa: S603
                [*common, "-f", str(pom), "dependency:copy-dependencies", f"-DoutputDirectory={staging}",
                 "-DincludeScope=runtime", *(f"-D{key}={value}" for key, value in jar_set.properties.items())],
                capture_output=True, text=True, check=False)
    for artifact in jar_set.artifacts:
        result = subprocess.run(  # noqa: S603
            [*common, "dependency:copy", f"-Dartifact={artifact}", f"-DoutputDirectory={staging}"],
            capture_output=True, text=True, check=False)
        if result.returncode != 0:
            break
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
    """Jars to put on `pipeline.jars` of a PyFlink job: the Kafka connector and our own classes."""
    return [*jar_sets(settings)[1].jars(), own_jar(settings)]


def flink_sql_jars(settings: Settings) -> list[Path]:
    """Jars for the Flink SQL export: the Kafka connector and flink-model-openai."""
    return [*jar_sets(settings)[1].jars(), *jar_sets(settings)[2].jars()]
