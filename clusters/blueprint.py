"""Everything `up`, `upgrade` and `render` derive from a profile + Cilium release: file
contents, paths, the config hash. Pure apart from `write_files`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from clusters.confighash import config_hash
from clusters.coredns import TEMPLATE
from clusters.kindconfig import render_kind_config
from clusters.paths import package_dir, repo_root, state_dir
from clusters.profiles import DEFAULT_PROFILE, Profile, load_profile
from clusters.values import preloaded_images, render_values
from clusters.versions import Catalogue, CiliumRelease, load_catalogue
from clusters.yamldata import load_yaml_mapping

WORKLOADS_IMAGE = "zt-conformance/workloads:dev"
MARKER_NAME = "zt-conformance"
MARKER_NAMESPACE = "kube-system"
HELM_RELEASE = "cilium"
PINS_FILE = "pins.yaml"


def node_image() -> str:
    return str(load_yaml_mapping(package_dir() / PINS_FILE)["kind_node_image"])


@dataclass(frozen=True)
class Setup:
    profile: Profile
    release: CiliumRelease
    catalogue: Catalogue
    node_image: str
    files_dir: Path  # where rendered files go: the cluster's state dir, or `render --out`
    repo: Path
    workloads_base: str | None = None
    upgrade_from: str | None = None

    @property
    def cluster(self) -> str:
        return self.profile.cluster_name

    @property
    def context(self) -> str:
        return f"kind-{self.cluster}"

    @property
    def kubeconfig(self) -> Path:
        return self.files_dir / "kubeconfig"

    @property
    def kind_config_file(self) -> Path:
        return self.files_dir / "kind-config.yaml"

    @property
    def values_file(self) -> Path:
        return self.files_dir / f"values-cilium-{self.release.version}.yaml"

    @property
    def coredns_file(self) -> Path:
        return self.files_dir / "coredns-configmap.yaml"

    @property
    def marker_file(self) -> Path:
        return self.files_dir / "zt-conformance-configmap.yaml"

    def kind_config(self) -> dict[str, Any]:
        return render_kind_config(self.profile, self.node_image)

    def values(self) -> dict[str, Any]:
        return render_values(self.profile, self.release, self.upgrade_from)

    def images(self) -> list[str]:
        return sorted(set(preloaded_images(self.profile, self.release).values()))

    def config_hash(self) -> str:
        """What the cluster is made from. A fresh install's values, so a cluster upgraded to
        release X and one created at X compare equal."""
        template = (self.repo / TEMPLATE).read_text() if (self.repo / TEMPLATE).exists() else ""
        return config_hash({
            "profile": self.profile.raw,
            "cilium": self.release.version,
            "images": self.images(),
            "node_image": self.node_image,
            "kind_config": self.kind_config(),
            "values": render_values(self.profile, self.release),
            "coredns_template": template,
        })

    def marker(self, targets: dict[str, str], workloads_id: str) -> dict[str, Any]:
        data = {
            "config-hash": self.config_hash(),
            "external-targets": json.dumps(targets, sort_keys=True),
            "cilium-version": self.release.version,
            "profile": self.profile.name,
            "workloads-image-id": workloads_id,
        }
        if self.upgrade_from:
            data["upgraded-from"] = self.upgrade_from
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": MARKER_NAME, "namespace": MARKER_NAMESPACE},
            "data": data,
        }


def make_setup(
    profile: str | None = None,
    cilium_version: str | None = None,
    files_dir: Path | None = None,
    workloads_base: str | None = None,
    upgrade_from: str | None = None,
    version_flag: str = "--cilium-version",
) -> Setup:
    prof = load_profile(profile or DEFAULT_PROFILE)
    catalogue = load_catalogue()
    release = catalogue.resolve(cilium_version, version_flag)
    return Setup(
        profile=prof,
        release=release,
        catalogue=catalogue,
        node_image=node_image(),
        files_dir=files_dir or state_dir(prof.cluster_name),
        repo=repo_root(),
        workloads_base=workloads_base,
        upgrade_from=upgrade_from,
    )


def dump_yaml(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)


def write_files(setup: Setup) -> None:
    """The kind config and the Helm values file, as `up` uses them and `render` shows them."""
    setup.files_dir.mkdir(parents=True, exist_ok=True)
    setup.kind_config_file.write_text(dump_yaml(setup.kind_config()))
    setup.values_file.write_text(
        f"# Cilium {setup.release.version}, profile {setup.profile.name}\n"
        + dump_yaml(setup.values())
    )
