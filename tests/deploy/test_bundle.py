"""scripts/bundle.py: each dist/<cloud> holds core/, its own adapter, a validated circle.toml and nothing
else of ours, a requirements.txt naming only its cloud's packages, and loads the way its platform loads
it (Lambda handler strings from template.yaml, the Functions host's Python indexer, functions-framework).
A missing or invalid configuration (base file or any overlay) stops the build with one line.
tests/deploy/test_bundle_entry_points.py installs each bundle into its own virtualenv and invokes it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from scripts import bundle
from tests.deploy.cfn_eval import load

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "circle.toml"
# Valid under any configuration schema, and naming no cloud store (so no storage extra is added).
MINIMAL = (
    '[stores.a]\nurl = "memory://a"\n[stores.b]\nurl = "memory://b"\n[[replication]]\nsource = "a"\ntargets = ["b"]\n'
)
ADAPTERS = {"aws": "aws_lambda", "azure": "azure_functions", "gcp": "gcp_functions"}
PROJECT: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
BASE: list[str] = PROJECT.get("dependencies", [])
EXTRAS: dict[str, list[str]] = PROJECT["optional-dependencies"]


def _names(reqs: list[str]) -> set[str]:
    return {canonicalize_name(Requirement(r).name) for r in reqs}


def _run_in(directory: Path, code: str) -> Any:
    """Run ``code`` with ``directory`` as the working directory, as the platform would, and return the
    JSON it prints. PYTHONPATH is dropped so only the bundle (and installed packages) can be imported."""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "CIRCLE_CONFIG", "CIRCLE_ENV"}}
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=directory, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture
def minimal(tmp_path: Path) -> Path:
    config = tmp_path / "minimal.toml"
    config.write_text(MINIMAL)
    return config


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    config = out / "minimal.toml"
    config.write_text(MINIMAL)
    proc = subprocess.run(
        [sys.executable, "-m", "scripts.bundle", "--out", str(out), "--config", str(config), "aws", "azure", "gcp"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return out


def _shipped_sources(package: Path) -> set[str]:
    """Files of a repository package that belong in a bundle (no tests, no caches)."""
    files = set()
    for p in package.rglob("*"):
        rel = p.relative_to(package.parent)
        if (
            p.is_file()
            and not {"__pycache__", "tests"} & set(rel.parts)
            and not p.name.startswith("test_")
            and p.suffix not in {".pyc", ".pyo"}
        ):
            files.add(rel.as_posix())
    return files


@pytest.mark.parametrize("cloud", bundle.CLOUDS)
def test_bundle_holds_core_and_only_its_own_adapter(dist: Path, cloud: str) -> None:
    root = dist / cloud
    for package in ("core", ADAPTERS[cloud]):
        shipped = [p for p in (root / package).rglob("*") if p.is_file()]
        got = {p.relative_to(root).as_posix() for p in shipped if p.suffix != ".pyc"}
        assert got == _shipped_sources(ROOT / package)
        if sys.version_info[:2] == bundle.TARGET_PYTHON:
            # each shipped module has its bytecode beside it (no cold start compiles), and nothing else does
            tag = sys.implementation.cache_tag
            pycs = {p.relative_to(root).as_posix() for p in shipped if p.suffix == ".pyc"}
            assert pycs == {
                f"{Path(src).parent.as_posix()}/__pycache__/{Path(src).stem}.{tag}.pyc"
                for src in got
                if src.endswith(".py")
            }
    for other in set(ADAPTERS.values()) - {ADAPTERS[cloud]}:
        assert not (root / other).exists(), other
    leftovers = [p for p in root.rglob("*") if p.name in {"tests", ".pytest_cache"} or p.suffix == ".pyo"]
    assert leftovers == []
    expected_root = {"aws": set(), "azure": {"function_app.py", "host.json"}, "gcp": {"main.py"}}[cloud]
    top_files = {p.name for p in root.iterdir() if p.is_file()}
    assert top_files == expected_root | {"requirements.txt", "circle.toml"}
    assert (root / "circle.toml").read_text() == MINIMAL
    assert not list(dist.glob(".*.building")), "staging directory left behind"


@pytest.mark.parametrize("cloud", bundle.CLOUDS)
def test_requirements_name_only_that_clouds_packages(dist: Path, cloud: str) -> None:
    lines = [ln.strip() for ln in (dist / cloud / "requirements.txt").read_text().splitlines()]
    reqs = [ln for ln in lines if ln and not ln.startswith("#")]
    assert reqs == BASE + EXTRAS[cloud]  # same specifiers, same order, nothing else
    others = set().union(*(_names(EXTRAS[c]) for c in bundle.CLOUDS if c != cloud), _names(EXTRAS["dev"]))
    assert not _names(reqs) & (others - _names(EXTRAS[cloud]))


def test_azure_files_are_the_repository_files(dist: Path) -> None:
    for name in ("function_app.py", "host.json"):
        assert (dist / "azure" / name).read_bytes() == (ROOT / name).read_bytes()
    assert not (ROOT / "main.py").exists(), "a root main.py would shadow the GCP bundle's entry point"


def test_aws_handlers_named_in_the_template_load_from_the_bundle(dist: Path) -> None:
    template = load(ROOT / "template.yaml")
    assert (ROOT / template["Globals"]["Function"]["CodeUri"]).resolve() == (ROOT / "dist" / "aws").resolve()
    handlers = sorted(
        res["Properties"]["Handler"]
        for res in template["Resources"].values()
        if res["Type"] == "AWS::Serverless::Function" and "Condition" not in res
    )
    assert "aws_lambda.handlers.storage_event" in handlers and "aws_lambda.handlers.rotation" in handlers
    code = (
        "import importlib, json, sys\n"
        f"out = {{}}\n"
        f"for h in {handlers!r}:\n"
        "    mod, _, attr = h.rpartition('.')\n"
        "    m = importlib.import_module(mod)\n"
        "    out[h] = [m.__file__, callable(getattr(m, attr))]\n"
        "import core; out['core'] = [core.__file__, True]\n"
        "print(json.dumps(out))\n"
    )
    found = _run_in(dist / "aws", code)
    for name, (path, is_callable) in found.items():
        assert Path(path).is_relative_to(dist / "aws"), (name, path)
        assert is_callable, name


def test_azure_bundle_indexes_with_the_functions_host_indexer(dist: Path) -> None:
    from scripts import deploy

    code = (
        "import json, azure_functions, core\n"
        "from azure_functions_runtime.loader import index_function_app\n"
        "fns = index_function_app('function_app.py')\n"
        "print(json.dumps({'files': [azure_functions.__file__, core.__file__], 'functions': {\n"
        "    f.get_function_name(): sorted(b.type for b in f.get_bindings()) for f in fns}}))\n"
    )
    found = _run_in(dist / "azure", code)
    assert all(Path(p).is_relative_to(dist / "azure") for p in found["files"]), found["files"]
    functions = found["functions"]
    # The subscriptions scripts/deploy.py creates feed these functions: blob events through the queue.
    assert "queueTrigger" in functions.get(deploy.AZURE_QUEUE_FUNCTION, []), functions
    assert "eventGridTrigger" in functions.get(deploy.AZURE_KEYVAULT_FUNCTION, []), functions


def test_gcp_bundle_main_imports_and_serves_both_targets(dist: Path) -> None:
    from scripts import deploy

    code = (
        "import json, main, gcp_functions, core, functions_framework\n"
        "apps = {t: type(functions_framework.create_app(target=t, source='main.py',\n"
        "                                              signature_type='cloudevent')).__name__\n"
        f"        for t in {[deploy.GCP_STORAGE_TARGET, deploy.GCP_ROTATION_TARGET]!r}}}\n"
        "print(json.dumps({'files': [main.__file__, gcp_functions.__file__, core.__file__], 'apps': apps}))\n"
    )
    found = _run_in(dist / "gcp", code)
    assert all(Path(p).is_relative_to(dist / "gcp") for p in found["files"]), found["files"]
    assert set(found["apps"]) == {deploy.GCP_STORAGE_TARGET, deploy.GCP_ROTATION_TARGET}


def test_config_is_shipped_as_circle_toml(tmp_path: Path, minimal: Path) -> None:
    for cloud in bundle.CLOUDS:
        built = bundle.build(cloud, tmp_path / "out", config=minimal)
        assert (built / "circle.toml").read_bytes() == minimal.read_bytes()
    with pytest.raises(bundle.BundleError, match="no such configuration file"):
        bundle.build("aws", tmp_path / "out", config=tmp_path / "missing.toml")


def test_extra_adds_a_target_clouds_sdk_on_request(tmp_path: Path, minimal: Path) -> None:
    built = bundle.build("aws", tmp_path, config=minimal, extras=["gcp"])
    reqs = [ln for ln in (built / "requirements.txt").read_text().splitlines() if not ln.startswith("#")]
    assert reqs == list(dict.fromkeys(BASE + EXTRAS["aws"] + EXTRAS["gcp"]))  # shared ones (PyJWT) once
    with pytest.raises(bundle.BundleError, match="'nope' extra"):
        bundle.build("aws", tmp_path, config=minimal, extras=["nope"])


def test_a_failed_build_keeps_the_previous_bundle(tmp_path: Path) -> None:
    fake_root = tmp_path / "repo"
    fake_root.mkdir()
    shutil.copy2(ROOT / "pyproject.toml", fake_root / "pyproject.toml")
    shutil.copy2(ROOT / "function_app.py", fake_root / "function_app.py")  # host.json is missing
    for package in ("core", "azure_functions"):
        shutil.copytree(ROOT / package, fake_root / package, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path / "dist"
    (out / "azure").mkdir(parents=True)
    (out / "azure" / "previous.txt").write_text("still here")
    config = tmp_path / "circle.toml"
    config.write_text(MINIMAL)
    with pytest.raises(bundle.BundleError, match=r"host\.json"):
        bundle.build("azure", out, config=config, root=fake_root)
    assert [p.name for p in out.iterdir()] == ["azure"]
    assert (out / "azure" / "previous.txt").read_text() == "still here"


def test_cli_rejects_an_unknown_cloud(capsys: pytest.CaptureFixture[str]) -> None:
    assert bundle.main(["aws", "oracle"]) == 2
    assert "unknown cloud oracle" in capsys.readouterr().err


def test_a_config_adds_the_storage_sdks_of_the_stores_it_names(tmp_path: Path) -> None:
    config = tmp_path / "circle.toml"
    config.write_text(
        '[stores.src]\nurl = "s3://in"\n[stores.dst]\nurl = "memory://x"\n[env.prod.stores.dst]\nurl = "gs://replica"\n'
    )
    assert bundle.storage_extras(config) == ["gcs", "s3"]
    built = bundle.build("azure", tmp_path / "out", config=config)
    reqs = [ln for ln in (built / "requirements.txt").read_text().splitlines() if not ln.startswith("#")]
    assert reqs == list(dict.fromkeys(BASE + EXTRAS["azure"] + EXTRAS["gcs"] + EXTRAS["s3"]))
    assert not any(r.startswith(("functions-framework", "aws-lambda-powertools")) for r in reqs)


# -- configuration travels with the code, validated --------------------------------------------------------
def _bundle_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"CIRCLE_CONFIG", "CIRCLE_ENV"}}
    return subprocess.run(
        [sys.executable, "-m", "scripts.bundle", *args],
        cwd=cwd,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _one_line_refusal(proc: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert proc.returncode == 2, proc
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    for text in expected:
        assert text in proc.stderr, proc.stderr


def test_a_missing_config_stops_the_bundle_in_one_line(tmp_path: Path) -> None:
    proc = _bundle_cli("--out", str(tmp_path), "--config", str(tmp_path / "nope.toml"), "aws")
    _one_line_refusal(proc, "nope.toml", "no such configuration file", "CONFIG=")
    assert not (tmp_path / "aws").exists()


def test_no_config_at_all_stops_the_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(bundle, "ROOT", tmp_path)  # no circle.toml at the (pretend) repository root
    assert bundle.main(["--out", str(tmp_path / "dist"), "aws"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no configuration" in err and "examples/circle.toml" in err
    assert not (tmp_path / "dist").exists()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[stores.a]\nurl = 'memory://a'\n[[replication]]\nsource = 'nope'\ntargets = ['a']\n", "replication"),
        ("[stores.a]\nurl = 'ftp://a'\n", "stores.a.url"),
        ("[stores.a\nurl = 'memory://a'\n", "not readable TOML"),
        (MINIMAL + "[env.staging.stores.b]\nurl = 'ftp://b'\n", "'staging'"),  # only the overlay is broken
    ],
)
def test_an_invalid_config_stops_the_bundle_in_one_line(tmp_path: Path, text: str, expected: str) -> None:
    config = tmp_path / "circle.toml"
    config.write_text(text)
    proc = _bundle_cli("--out", str(tmp_path / "dist"), "--config", str(config), "aws", "gcp")
    _one_line_refusal(proc, str(config), "invalid configuration", expected)
    assert not (tmp_path / "dist").exists() or not any((tmp_path / "dist").iterdir())


def test_every_overlay_is_validated_and_reported(tmp_path: Path) -> None:
    config = tmp_path / "circle.toml"
    config.write_text(MINIMAL + "[env.prod.stores.a]\nurl = 'memory://prod-a'\n[env.dev]\n")
    assert bundle.check_config(config) == ["", "dev", "prod"]
    proc = _bundle_cli("--out", str(tmp_path / "dist"), "--config", str(config), "aws")
    assert proc.returncode == 0, proc.stderr
    assert "valid for: base, dev, prod" in proc.stdout


def test_required_env_checks_only_the_overlays(tmp_path: Path) -> None:
    """With ``required_env = true`` the base file alone is not a deployable configuration (contract C3)."""
    config = tmp_path / "circle.toml"
    config.write_text("required_env = true\n" + MINIMAL + "[env.prod]\n")
    assert bundle.check_config(config) == ["prod"]


def test_the_example_configuration_bundles(tmp_path: Path) -> None:
    """examples/circle.toml (used by docs/deploy.md and the entry-point test) is valid with and without
    its [env.prod] overlay, and adds the storage SDKs of the three clouds it names."""
    assert bundle.check_config(EXAMPLE) == ["", "prod"]
    built = bundle.build("gcp", tmp_path, config=EXAMPLE)
    reqs = [ln for ln in (built / "requirements.txt").read_text().splitlines() if not ln.startswith("#")]
    assert _names(reqs) >= _names(EXTRAS["gcp"] + EXTRAS["s3"] + EXTRAS["azure-blob"])


def test_a_store_asking_for_the_obstore_engine_adds_the_obstore_extra(tmp_path: Path) -> None:
    config = tmp_path / "circle.toml"
    config.write_text('[stores.src]\nurl = "s3://in"\n[env.prod.stores.dst]\nurl = "az://out"\nengine = "obstore"\n')
    assert bundle.storage_extras(config) == ["azure-blob", "obstore", "s3"]
