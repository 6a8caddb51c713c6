"""The Cilium catalogue (conformance/vocabulary/cilium.yaml) is the one place releases, the
default and per-version features live: every reader agrees with it, every release has its
upstream test data, the README's table is generated from it, and a catalogue with an extra
release (passed explicitly) shows that release everywhere."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import clusters.cli
import clusters.versions
import conformance.cli
from clusters.emulated import controlplane, decide, validation
from clusters.emulated.crds.schema import DATA_DIR as CRD_DIR
from conformance.model import version as model_version
from conformance.upgrade import notes
from conformance.vocabulary import readme
from conformance.vocabulary.catalogue import (
    CATALOGUE_FILE,
    Catalogue,
    CatalogueError,
    load_catalogue,
)

REPO = Path(__file__).resolve().parents[2]
CHART_VALUES = REPO / "tests" / "clusters" / "data" / "chart-values"
CRD_KINDS = ("ciliumnetworkpolicies.yaml", "ciliumclusterwidenetworkpolicies.yaml")
EXTRA = "1.20.1"


def missing_test_data(catalogue: Catalogue) -> list[str]:
    """What a release of `catalogue` lacks of its upstream test data, one line each."""
    out = []
    for version in catalogue.versions():
        for kind in CRD_KINDS:
            if not (CRD_DIR / version / kind).is_file():
                out.append(f"Cilium {version}: no CRD schema clusters/emulated/crds/{version}/"
                           f"{kind} (python -m clusters.emulated.crds.extract)")
        if not (CHART_VALUES / version / "values.yaml").is_file():
            out.append(f"Cilium {version}: no chart values tests/clusters/data/chart-values/"
                       f"{version}/values.yaml (the chart's values.yaml of that release)")
    return out


@pytest.fixture(scope="module")
def extra(tmp_path_factory: pytest.TempPathFactory) -> Catalogue:
    """The committed catalogue plus a patch release 1.20.1, made the default."""
    doc = yaml.safe_load(CATALOGUE_FILE.read_text())
    entry = yaml.safe_load(yaml.safe_dump(doc["releases"]["1.20.0"]))
    entry["images"] = {k: v.replace("v1.20.0", f"v{EXTRA}") for k, v in entry["images"].items()}
    doc["releases"] = {EXTRA: entry, **doc["releases"]}
    doc["default"] = EXTRA
    path = tmp_path_factory.mktemp("catalogue") / "cilium.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return load_catalogue(path)


def test_every_reader_agrees_with_the_catalogue() -> None:
    cat = load_catalogue()
    assert model_version.SUPPORTED == cat.lines() == ((1, 18), (1, 19), (1, 20))
    assert cat.default_line == model_version.DEFAULT_VERSION
    provisioning = clusters.versions.load_catalogue()
    assert sorted(provisioning.releases) == sorted(cat.releases)
    assert provisioning.default == cat.default
    assert provisioning.resolve(None).images == cat.releases[cat.default].images
    assert validation.versions() == cat.versions()
    assert decide.CILIUM_VERSION == validation.default_version() == cat.default
    assert controlplane.ControlPlane.__init__.__defaults__[0] == cat.default  # type: ignore[index]


def test_the_features_are_what_the_model_evaluates() -> None:
    cat = load_catalogue()
    assert [model_version.multi_label_wildcard(v) for v in cat.lines()] == [False, True, True]
    assert [model_version.l7_wildcard_in_default_allow(v) for v in cat.lines()] == [True] * 3
    assert all(f.source and f.summary for f in cat.features.values())


def test_the_upgrade_notes_agree_with_the_features() -> None:
    cat = load_catalogue()
    raw = yaml.safe_load(notes.NOTES_FILE.read_text())["notes"]
    for note, entry in zip(notes.notes(), raw, strict=True):
        stages = [s for s in notes.STAGES if s in entry]
        assert stages and note.features == {s: entry[s] for s in stages}, note.id
        for stage in stages:  # a feature name, never a literal version
            assert getattr(note, stage) == cat.feature(entry[stage]).since, (note.id, stage)


def test_every_release_has_its_upstream_test_data() -> None:
    assert missing_test_data(load_catalogue()) == []


def _subcommand_help(parser: argparse.ArgumentParser, name: str) -> str:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return " ".join(sub.choices[name].format_help().split())


def test_help_texts_list_the_catalogue() -> None:
    cat = load_catalogue()
    assert cat.describe_versions() == "1.20.0 (default), 1.19.6, 1.18.12"
    for name in ("up", "render", "upgrade"):
        assert cat.describe_versions() in _subcommand_help(clusters.cli.parser(), name)
    for name in ("explain", "lint", "generate"):
        text = _subcommand_help(conformance.cli.build_parser(), name)
        assert "1.20, 1.19, 1.18 (default 1.20)" in text, name
    assert cat.describe_versions() in _subcommand_help(conformance.cli.build_parser(),
                                                        "upgrade-check")


def test_the_readme_table_is_the_catalogues() -> None:
    text = (REPO / "README.md").read_text()
    assert readme.rewritten(text, load_catalogue()) == text, \
        "README.md's Cilium table is stale: run python -m conformance.vocabulary readme"


def test_the_readme_command_checks_and_rewrites(tmp_path: Path, extra: Catalogue) -> None:
    page = tmp_path / "README.md"
    page.write_text("# x\n\n" + readme.render_table(load_catalogue()) + "\n\nafter\n")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "conformance.vocabulary", "readme",
                               "--readme", str(page), *args], cwd=REPO, capture_output=True,
                              text=True, timeout=60, check=False)

    assert run("--check").returncode == 0
    stale = run("--check", "--catalogue", str(extra.path))
    assert stale.returncode == 1 and "python -m conformance.vocabulary readme" in stale.stderr
    assert run("--catalogue", str(extra.path)).returncode == 0
    assert f"| {EXTRA} | yes |" in page.read_text() and page.read_text().endswith("after\n")
    page.write_text("no markers\n")
    broken = run("--check")
    assert broken.returncode == 2 and "cilium-catalogue:begin" in broken.stderr


def test_an_extra_patch_release_is_seen_everywhere(extra: Catalogue) -> None:
    # The model: 1.20.1 is a modelled version of line 1.20, now the default line.
    assert model_version.parse_version(EXTRA, extra) == (1, 20)
    assert model_version.default_version(extra) == "1.20"
    assert model_version.multi_label_wildcard((1, 20), extra)
    # Provisioning: a release of its own, and the newest patch of its line.
    prov = clusters.versions.load_catalogue(extra.path)
    assert prov.resolve(None).version == EXTRA == prov.resolve("1.20").version
    assert prov.resolve("1.20.0").version == "1.20.0"
    assert prov.resolve(EXTRA).images["image"] == f"quay.io/cilium/cilium:v{EXTRA}"
    # The emulated cluster: in its releases, its default.
    assert validation.versions(extra) == ["1.18.12", "1.19.6", "1.20.0", EXTRA]
    assert validation.default_version(extra) == EXTRA
    # Help texts and the README table.
    assert extra.describe_versions().startswith(f"{EXTRA} (default), 1.20.0, ")
    assert f"| {EXTRA} | yes | `cilium:v{EXTRA}` |" in readme.render_table(extra)
    # Its upstream test data is what is left to add, named.
    assert missing_test_data(extra) == [
        f"Cilium {EXTRA}: no CRD schema clusters/emulated/crds/{EXTRA}/{kind} "
        "(python -m clusters.emulated.crds.extract)" for kind in CRD_KINDS] + [
        f"Cilium {EXTRA}: no chart values tests/clusters/data/chart-values/{EXTRA}/"
        "values.yaml (the chart's values.yaml of that release)"]


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d.update(default="1.21.0"), "`default` '1.21.0' is not one of `releases`"),
    (lambda d: d["releases"].update({"1.21": d["releases"]["1.20.0"]}),
     "releases.1.21: a release is a quoted X.Y.Z string"),
    (lambda d: d["features"]["multi-label-wildcard"].update(since=1.19),
     "features.multi-label-wildcard.since: expected a quoted minor X.Y"),
    (lambda d: d["features"]["kafka-rules-removed"].pop("source"),
     "features.kafka-rules-removed.source: required"),
    (lambda d: d["releases"]["1.19.6"].update(images=None), "releases.1.19.6.images"),
])
def test_a_broken_catalogue_is_one_message_naming_the_field(tmp_path: Path, change: object,
                                                            message: str) -> None:
    doc = yaml.safe_load(CATALOGUE_FILE.read_text())
    change(doc)  # type: ignore[operator]
    path = tmp_path / "cilium.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(CatalogueError) as err:
        load_catalogue(path)
    assert str(path) in str(err.value) and message in str(err.value)
    with pytest.raises(clusters.versions.InputError, match=r"is not one of|quoted|required|images"):
        clusters.versions.load_catalogue(path)


def test_an_unreadable_catalogue_is_named(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match=r"cannot read the Cilium catalogue .*nope\.yaml"):
        load_catalogue(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("releases: [\n")
    with pytest.raises(CatalogueError, match=r"bad\.yaml is not valid YAML"):
        load_catalogue(tmp_path / "bad.yaml")
