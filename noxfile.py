"""Development tasks: ``nox`` runs lint, types and the whole test suite.

The sessions that boot VMs first run ``providers/libvirt/host-setup.sh``,
which installs and starts what libvirt needs on a Debian/Ubuntu host.
"""

import os
import shutil
import tomllib
from pathlib import Path

import nox

nox.options.sessions = ["lint", "types", "docs", "tests", "lowest", "build"]
nox.options.reuse_existing_virtualenvs = True
# uv where nox has it (``nox[uv]``, as the README installs it): the sessions' installs take seconds, not minutes.
nox.options.default_venv_backend = "uv|virtualenv"

PROVIDERS = {name: f"providers/{name}" for name in ("libvirt", "aws", "gcp", "azure")}
CLOUDS = ("aws", "gcp", "azure")
# The testing aids and each cloud's test backends, distributions of their own (what the ``[test]``
# extras pull in from an index; from the checkout, installed beside them).
TESTING = ("testing", *(f"providers/{name}/testing" for name in CLOUDS))


def editable(*paths: str) -> list[str]:
    return [arg for path in paths for arg in ("-e", path)]


PACKAGES = editable(".", *PROVIDERS.values(), *TESTING)
BENCH = ["apache-libcloud>=3.8"]  # a contender in the benchmarks (and their smoke run in the tests)
LIBVIRT_ENV = {
    "CLOUDVM_LIBVIRT_NETWORK": os.environ.get("CLOUDVM_LIBVIRT_NETWORK", "cloudvm-test"),
    # /dev/kvm exists on the development and CI machines but does not work there.
    "CLOUDVM_LIBVIRT_DOMAIN_TYPE": os.environ.get("CLOUDVM_LIBVIRT_DOMAIN_TYPE", "qemu"),
}


def floors(*projects: str) -> list[str]:
    """Every dependency the projects declare (with their test extras), pinned to the lowest version allowed."""
    pins = []
    for project in projects:
        meta = tomllib.loads(Path(project, "pyproject.toml").read_text())["project"]
        for requirement in [*meta["dependencies"], *meta.get("optional-dependencies", {}).get("test", [])]:
            name, _, floor = requirement.partition(">=")
            if floor and not name.startswith("cloudvm"):  # cloudvm's own: the checkout
                pins.append(f"{name}=={floor}")
    return pins


def host_setup(session: nox.Session) -> None:
    session.run("sh", "providers/libvirt/host-setup.sh", external=True, env=LIBVIRT_ENV)


AZURITE = "azurite@3.37.0"  # the Azure Storage emulator behind the Azure fake's disk access URIs


def azurite(session: nox.Session) -> dict[str, str]:
    """Azurite from the npm registry into ``.nox/azurite`` once; the environment that names it to the tests."""
    prefix = Path(".nox", "azurite").resolve()
    binary = prefix / "node_modules" / ".bin" / "azurite-blob"
    if not binary.exists():
        session.run("npm", "install", "--no-audit", "--no-fund", "--silent", "--prefix", str(prefix), AZURITE,
                    external=True)
    return {"CLOUDVM_AZURITE": str(binary)}


@nox.session
def tests(session: nox.Session) -> None:
    """Unit tests, the conformance suite on real libvirt VMs, the examples."""
    host_setup(session)
    session.install(*PACKAGES, *BENCH, "pytest>=8.0", "pytest-timeout>=2.3.1", "pytest-xdist>=3.5")
    # The clouds' suites a file per process at a time (each runs its own fakes and moto); real VMs one at a time.
    session.run("pytest", "-n", "3", "--dist", "loadfile", *(f"providers/{name}/tests" for name in CLOUDS),
                *session.posargs, env=azurite(session))
    session.run("pytest", "tests", "providers/libvirt/tests", *session.posargs, env=LIBVIRT_ENV | azurite(session))


@nox.session
def lowest(session: nox.Session) -> None:
    """Every provider's suite with the lowest versions the core and each provider declare (for
    Azure the SDK generation its published management samples were written for: they run here)."""
    host_setup(session)
    session.install(*PACKAGES, *floors(".", *PROVIDERS.values(), *TESTING), "pytest>=8.0",
                    "pytest-timeout>=2.3.1", "pytest-xdist>=3.5")
    # A process per test file at a time: each runs its own fakes and moto, and the suites take a third the time.
    session.run("pytest", "-n", "3", "--dist", "loadfile", *(f"providers/{name}/tests" for name in CLOUDS),
                *session.posargs, env=azurite(session))
    # Real VMs, one at a time. The second host's tests stay in ``tests``: what they add (SSH transport,
    # jump host) is libvirt's and OpenSSH's, not a Python package's whose floor this session checks.
    session.run("pytest", "providers/libvirt/tests", "--ignore", "providers/libvirt/tests/test_remote.py",
                *session.posargs, env=LIBVIRT_ENV)


@nox.session
def bench(session: nox.Session) -> None:
    """Fleet provisioning under EC2's simulated limits: cloudvm, a boto3 loop, Apache Libcloud
    (``nox -s bench -- --sizes 10,100``); writes docs/benchmarks/ and the table in docs/performance.md."""
    host_setup(session)
    session.install(*PACKAGES, *BENCH, "matplotlib>=3.8")
    session.run("python", "benchmarks/bench.py", "--readme", "docs/performance.md", *session.posargs, env=LIBVIRT_ENV)


@nox.session
def chaos(session: nox.Session) -> None:
    """The fault campaign on the clouds' test backends (``nox -s chaos -- --trials 1000 --seed 1 --jobs 3``;
    ``--backends aws``, ``--trial SEED`` replays one)."""
    session.install(*editable(".", *(PROVIDERS[name] for name in CLOUDS), *TESTING))
    session.run("python", "-m", "cloudvm_testing.chaos", *session.posargs)


@nox.session
def build(session: nox.Session) -> None:
    """Wheels and sdists of the core and every provider in ``dist/``, each checked by twine (each
    wheel built from its sdist, as pip builds one), then installed and tried (tests/test_install.py)."""
    host_setup(session)  # libvirt-python builds against libvirt's headers when installed from the packages
    session.install("-e", ".", "build>=1.2", "twine>=5.1", "pytest>=8.0", "pytest-timeout>=2.3.1")
    shutil.rmtree("dist", ignore_errors=True)
    for project in (".", *PROVIDERS.values(), *TESTING):
        session.run("python", "-m", "build", "--outdir", "dist", project)
    session.run("twine", "check", "--strict", *sorted(str(path) for path in Path("dist").iterdir()))
    # installed from them into a fresh environment, as a user installs cloudvm
    session.run("pytest", "tests/test_install.py", *session.posargs, env={"CLOUDVM_DIST": str(Path("dist").resolve())})


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation site in ``site/``, built strict: a broken link, anchor or reference fails."""
    session.install("-e", ".", "mkdocs>=1.6", "mkdocs-material>=9.5", "mkdocstrings-python>=1.10", "mkdocs-typer2>=0.1")
    session.run("mkdocs", "build", "--strict", "--site-dir", "site", env={"NO_MKDOCS_2_WARNING": "1"})


@nox.session
def demo(session: nox.Session) -> None:
    """Boot a VM on local libvirt, log in, snapshot, restore, tear down."""
    host_setup(session)
    session.install(*PACKAGES)
    session.run("python", "examples/demo.py", env=LIBVIRT_ENV)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.5")
    session.run("ruff", "check", "cloudvm", "testing", "providers", "tests", "examples", "benchmarks", "noxfile.py")


@nox.session
def types(session: nox.Session) -> None:
    # libvirt-python compiles against libvirt-dev, which only host_setup installs;
    # mypy needs none of it (libvirt ships no type information).
    clouds = [path for name, path in PROVIDERS.items() if name != "libvirt"]
    session.install(*editable(".", *clouds, *TESTING), "pycdlib>=1.14", "mypy>=1.10", "types-PyYAML>=6.0",
                    "pytest>=8.0")
    session.install("--no-deps", "-e", "providers/libvirt")
    session.run("mypy")
