"""Build the project's Lambda layer for Lambda's platform: ``make layer``.

The layer carries the runtime dependencies the AWS-managed *AWS SDK for pandas* layer lacks
(``layers/requirements.txt``: yfinance, sqlglot, pydantic, Powertools, FastAPI, Mangum...),
installed for CPython 3.12 on x86_64 Linux under ``python/`` as Lambda expects.

How it is built, and why:

1. **Pins.** ``uv export`` turns ``uv.lock`` (core + the Lambdas' extras,
   :data:`LAMBDA_EXTRAS`) into constraints, so the layer gets the versions the test suite ran
   with; ``uv pip compile`` resolves ``requirements.txt`` under them for
   ``--python-version 3.12 --python-platform x86_64-manylinux_2_34``. Lambda's python3.12
   runtime is Amazon Linux 2023 (glibc 2.34): ``manylinux_2_34`` accepts every
   ``manylinux2014`` (glibc 2.17) wheel plus newer ones that ship only ``manylinux_2_28``.
2. **Drop what the managed layer has.** numpy, pandas, pyarrow, boto3/botocore, dateutil,
   pytz... are removed from the pinned list (:data:`PROVIDED_BY_MANAGED_LAYER`), so nothing is
   shipped twice and the 250 MB budget holds.
3. **Install binaries only, no deps** (``uv pip install --only-binary :all: --no-deps
   --target python/``): every package is an explicit pin, nothing is compiled on this
   machine for the wrong platform.
4. **Sdist-only pure-Python packages.** Some yfinance dependencies have at times been published
   only as sdists (``multitasking``, ``peewee``, ``frozendict``). Those in
   :data:`PURE_PYTHON_SDISTS` are built from source (``--no-binary <name>``) with their C
   extensions disabled (``NO_SQLITE=1`` for peewee), then checked to be pure Python
   (``Root-Is-Purelib: true``, tag ``py3-none-any``, no ``.so`` file), so they run anywhere.
5. **Strip debug symbols.** Some wheels ship shared objects with debug info (curl_cffi's
   ``_wrapper.abi3.so`` is 37 MB, 7.5 MB stripped). ``strip --strip-debug`` removes only
   debugging sections, not symbols the loader needs. The stripped bytes depend on the
   binutils version, so the layer hash is reproducible per build machine.
6. **Check and record.** The zip is written reproducibly (sorted, fixed timestamps and
   modes), its size is checked against Lambda's limits (50 MB zipped; 250 MB unzipped for
   function + all layers, of which the managed layer takes :data:`SDK_PANDAS_LAYER_BYTES`),
   and its sha256 is printed and written next to it.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from reproducible import iter_tree, unzipped_size, write_checksum, write_zip

REPO_ROOT = Path(__file__).resolve().parent.parent
PYTHON_VERSION = "3.12"
PYTHON_PLATFORM = "x86_64-manylinux_2_34"
LAYER_NAME = "rebalancer-deps-layer.zip"

MB = 1024 * 1024
ZIPPED_LIMIT_BYTES = 50 * MB
"""Lambda's limit for a directly uploaded zip (function or layer)."""

UNZIPPED_LIMIT_BYTES = 262_144_000
"""Lambda's limit for a function and all its layers, unzipped (250 MiB)."""

SDK_PANDAS_LAYER_BYTES = 204 * MB
"""Budget for the AWS SDK for pandas layer, unzipped: 204 MiB measured for 3.16.1, its largest
release so far (3.16.0 was 167 MiB; aws/aws-sdk-pandas#3331). A bigger managed layer fails here
first, not at deploy time."""

FUNCTION_CODE_BUDGET_BYTES = 3 * MB // 2
"""Budget for a function's own zip (the rebalancer package and its resources), unzipped: 1.0 MiB
measured (the whole package ships in every function). With the managed layer's 204 MiB and this
project's layer (42.9 MiB measured) it leaves about 1.6 MiB of Lambda's 250 MiB."""

LAMBDA_EXTRAS = ("aws", "api", "yfinance")
"""The project's extras the Lambdas use (``pyproject.toml``): ``requirements.txt`` draws its
names from the core dependencies and these, and ``uv export`` pins them from ``uv.lock``. Without
the extras the export would pin only the core, and boto3, FastAPI, Mangum, Powertools and
yfinance would float to whatever PyPI has on the day of the build."""

PROVIDED_BY_MANAGED_LAYER = frozenset(
    {
        "awswrangler",
        "boto3",
        "botocore",
        "jmespath",
        "numpy",
        "pandas",
        "pyarrow",
        "python-dateutil",
        "s3transfer",
        "six",
        "tzdata",
        "urllib3",
    }
)
"""Distributions the AWS SDK for pandas layer (or the Lambda runtime) already provides.
pytz is not among them: pandas 3 no longer depends on it, but yfinance imports it."""

PURE_PYTHON_SDISTS = frozenset({"frozendict", "multitasking", "peewee"})
"""Built from their sdists as pure-Python wheels (see the module docstring, step 4)."""

SDIST_BUILD_ENV = {"NO_SQLITE": "1"}
"""Environment for sdist builds: peewee's setup.py skips its C extension with NO_SQLITE."""

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)")


class LayerError(Exception):
    """The layer cannot be built or breaks a Lambda limit."""


@dataclass(frozen=True)
class LayerReport:
    """What was built: path, hash, sizes and the pinned distributions."""

    path: Path
    sha256: str
    zipped_bytes: int
    unzipped_bytes: int
    pins: dict[str, str]


def normalize(name: str) -> str:
    """PEP 503 normalised distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_pins(text: str) -> dict[str, str]:
    """``name==version`` lines of a requirements file -> {normalised name: version}."""
    pins: dict[str, str] = {}
    for line in text.splitlines():
        match = _PIN.match(line.strip())
        if match:
            pins[normalize(match[1])] = match[2]
    return pins


def select_pins(pins: dict[str, str]) -> dict[str, str]:
    """The pins the layer installs: everything the managed layer does not already provide."""
    return {
        name: version
        for name, version in sorted(pins.items())
        if name not in PROVIDED_BY_MANAGED_LAYER
    }


def check_sizes(
    zipped: int, unzipped: int, function_bytes: int = FUNCTION_CODE_BUDGET_BYTES
) -> None:
    """Raise :class:`LayerError` when the layer breaks one of Lambda's size limits."""
    if zipped > ZIPPED_LIMIT_BYTES:
        raise LayerError(f"layer zip is {zipped / MB:.1f} MiB, over Lambda's 50 MiB upload limit")
    total = unzipped + SDK_PANDAS_LAYER_BYTES + function_bytes
    if total > UNZIPPED_LIMIT_BYTES:
        raise LayerError(
            f"layer unzips to {unzipped / MB:.1f} MiB; with the AWS SDK for pandas layer "
            f"({SDK_PANDAS_LAYER_BYTES / MB:.0f} MiB) and the function code "
            f"({function_bytes / MB:.0f} MiB) that is {total / MB:.1f} MiB, over Lambda's "
            f"{UNZIPPED_LIMIT_BYTES / MB:.0f} MiB"
        )


def check_pure_python(site: Path, names: set[str]) -> None:
    """Raise unless every distribution in ``names`` installed under ``site`` is pure Python."""
    for dist_info in sorted(site.glob("*.dist-info")):
        name = normalize(dist_info.name.removesuffix(".dist-info").rsplit("-", 1)[0])
        if name not in names:
            continue
        wheel = (dist_info / "WHEEL").read_text()
        record = (dist_info / "RECORD").read_text() if (dist_info / "RECORD").exists() else ""
        if "Root-Is-Purelib: true" not in wheel or "none-any" not in wheel:
            raise LayerError(f"{name} built from sdist is not a pure-Python wheel:\n{wheel}")
        if re.search(r"\.(so|pyd)(,|$)", record, flags=re.MULTILINE):
            raise LayerError(f"{name} built from sdist contains a compiled extension")


def _run(cmd: list[str], env: dict[str, str] | None = None) -> str:
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        raise LayerError(f"{' '.join(cmd[:3])} ... failed:\n{result.stderr.strip()}")
    return result.stdout


def export_command(uv: str) -> list[str]:
    """``uv export`` of the locked versions of core + :data:`LAMBDA_EXTRAS`, as constraints."""
    extras = [arg for extra in LAMBDA_EXTRAS for arg in ("--extra", extra)]
    return [
        uv,
        "export",
        "--frozen",
        "--no-hashes",
        "--no-emit-project",
        "--no-header",
        "--format",
        "requirements-txt",
        *extras,
        "--project",
        str(REPO_ROOT),
    ]


def resolve(uv: str, requirements: Path, work: Path) -> dict[str, str]:
    """Pin ``requirements`` for Lambda's platform under the constraints of ``uv.lock``."""
    constraints = work / "constraints.txt"
    constraints.write_text(_run(export_command(uv)))
    locked = work / "requirements.lock.txt"
    _run(
        [
            uv,
            "pip",
            "compile",
            str(requirements),
            "--constraint",
            str(constraints),
            "--python-version",
            PYTHON_VERSION,
            "--python-platform",
            PYTHON_PLATFORM,
            "--no-header",
            "--no-annotate",
            "--quiet",
            "--output-file",
            str(locked),
        ]
    )
    return parse_pins(locked.read_text())


def install(uv: str, pins: dict[str, str], target: Path, work: Path) -> None:
    """Install exactly ``pins`` into ``target``: wheels only, sdists for the pure allow-list."""
    selected = work / "layer-requirements.txt"
    selected.write_text("".join(f"{name}=={version}\n" for name, version in pins.items()))
    sdists = sorted(set(pins) & PURE_PYTHON_SDISTS)
    cmd = [
        uv,
        "pip",
        "install",
        "--target",
        str(target),
        "--no-deps",
        "--only-binary",
        ":all:",
        "--python-version",
        PYTHON_VERSION,
        "--python-platform",
        PYTHON_PLATFORM,
        "--quiet",
        "--requirement",
        str(selected),
    ]
    for name in sdists:
        cmd += ["--no-binary", name, "--refresh-package", name]
    _run(cmd, env={**os.environ, **SDIST_BUILD_ENV})
    check_pure_python(target, set(sdists))


def strip_debug_info(site: Path, strip: str | None) -> int:
    """``strip --strip-debug`` every shared object under ``site``; return the bytes saved."""
    if strip is None:
        print("warning: no strip executable; shared objects keep their debug info", file=sys.stderr)
        return 0
    saved = 0
    for so in sorted(site.rglob("*.so*")):
        if not so.is_file():
            continue
        before = so.stat().st_size
        _run([strip, "--strip-debug", str(so)])
        saved += before - so.stat().st_size
    return saved


def build(out_dir: Path, requirements: Path, uv: str) -> LayerReport:
    """Build ``<out_dir>/rebalancer-deps-layer.zip`` (+ ``.sha256``); check its sizes."""
    with tempfile.TemporaryDirectory(prefix="layer-") as tmp:
        work = Path(tmp)
        pins = select_pins(resolve(uv, requirements, work))
        site = work / "python"
        install(uv, pins, site, work)
        strip_debug_info(site, shutil.which("strip"))
        entries = dict(iter_tree(site, prefix="python/"))
        destination = out_dir / LAYER_NAME
        digest = write_zip(entries, destination)
        (out_dir / "requirements.lock.txt").write_text(
            "".join(f"{name}=={version}\n" for name, version in pins.items())
        )
    zipped, unzipped = destination.stat().st_size, unzipped_size(destination)
    check_sizes(zipped, unzipped)
    write_checksum(destination, digest)
    return LayerReport(destination, digest, zipped, unzipped, pins)


def main(argv: list[str] | None = None) -> int:
    """Command line: build the layer, print its sizes and sha256."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "dist" / "layer")
    parser.add_argument(
        "--requirements", type=Path, default=Path(__file__).parent / "requirements.txt"
    )
    parser.add_argument("--uv", default=shutil.which("uv") or "uv", help="uv executable")
    args = parser.parse_args(argv)
    try:
        report = build(args.out, args.requirements, args.uv)
    except LayerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"{len(report.pins)} distributions: "
        + ", ".join(f"{n}=={v}" for n, v in report.pins.items())
    )
    print(
        f"{report.path}: {report.zipped_bytes / MB:.2f} MiB zipped (limit 50), "
        f"{report.unzipped_bytes / MB:.2f} MiB unzipped "
        f"(+ {SDK_PANDAS_LAYER_BYTES / MB:.0f} MiB SDK for pandas layer, limit 250)"
    )
    print(f"sha256 {report.sha256}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
