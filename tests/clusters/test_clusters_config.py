"""Profiles, versions, the config hash and its decisions, CoreDNS rendering, kind config."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from clusters.blueprint import make_setup
from clusters.confighash import Decision, config_hash, decide
from clusters.coredns import render_coredns_configmap
from clusters.errors import InputError, RefusedError
from clusters.kindconfig import render_kind_config
from clusters.profiles import available_profiles, load_profile
from clusters.versions import load_catalogue

TARGETS = {"api.stripe.com": "192.0.2.10", "api.pastebin.com": "192.0.2.11"}


def test_unknown_profile_lists_the_valid_ones() -> None:
    with pytest.raises(InputError, match="unknown profile 'big'; valid profiles: default, no-auth"):
        load_profile("big")


@pytest.mark.parametrize("wanted", ["1.17.0", "1.21", "latest", "1.20.9"])
def test_unknown_version_lists_the_valid_ones(wanted: str) -> None:
    with pytest.raises(InputError, match=r"valid: 1\.20\.0, 1\.19\.6, 1\.18\.12"):
        load_catalogue().resolve(wanted)


@pytest.mark.parametrize(("wanted", "got"), [(None, "1.20.0"), ("1.19", "1.19.6"),
                                             ("v1.18.12", "1.18.12"), ("1.18", "1.18.12")])
def test_versions_resolve_to_pinned_patches(wanted: str | None, got: str) -> None:
    assert load_catalogue().resolve(wanted).version == got


def test_profile_extends_and_bad_profiles(tmp_path: Path) -> None:
    assert available_profiles() == ["default", "no-auth"]
    no_auth = load_profile("no-auth")
    assert not no_auth.mutual_auth and no_auth.workers == 2  # inherited
    (tmp_path / "a.yaml").write_text("extends: b\n")
    (tmp_path / "b.yaml").write_text("extends: a\n")
    with pytest.raises(InputError, match="loops"):
        load_profile("a", tmp_path)
    (tmp_path / "c.yaml").write_text("cluster_name: Bad_Name\n")
    with pytest.raises(InputError, match="cluster_name"):
        load_profile("c", tmp_path)
    (tmp_path / "d.yaml").write_text("cluster_name: ok\nnodes: {control_planes: 1}\n")
    with pytest.raises(InputError, match=r"missing field `nodes\.workers`"):
        load_profile("d", tmp_path)
    (tmp_path / "e.yaml").write_text("a: [unclosed\n")
    with pytest.raises(InputError, match="not valid YAML"):
        load_profile("e", tmp_path)


@pytest.mark.parametrize(("override", "message"), [
    ("coredns: {upstream: [dns.google], ttl: 5}", "coredns.upstream"),
    ("coredns: {upstream: [], ttl: 5}", "coredns.upstream` is empty"),
    ("coredns: {upstream: [1.1.1.1], ttl: 0}", "coredns.ttl"),
    ("external_targets: {image: i, command: [], fqdns: ['bad name!']}",
     "external_targets.fqdns"),
])
def test_bad_coredns_and_target_fields_stop_at_load_before_anything_is_made(
    tmp_path: Path, override: str, message: str
) -> None:
    (tmp_path / "default.yaml").write_text(
        (Path(__file__).resolve().parents[2] / "clusters" / "profiles" / "default.yaml")
        .read_text())
    (tmp_path / "bad.yaml").write_text(f"extends: default\n{override}\n")
    load_profile("default", tmp_path)
    with pytest.raises(InputError, match=message) as err:
        load_profile("bad", tmp_path)
    assert str(tmp_path / "bad.yaml") in str(err.value)


def test_kind_config_one_control_plane_two_workers_no_cni_no_kube_proxy() -> None:
    cfg = render_kind_config(load_profile(), "kindest/node:v1.34.11@sha256:x")
    assert [n["role"] for n in cfg["nodes"]] == ["control-plane", "worker", "worker"]
    assert {n["image"] for n in cfg["nodes"]} == {"kindest/node:v1.34.11@sha256:x"}
    assert cfg["networking"] == {"disableDefaultCNI": True, "kubeProxyMode": "none"}


def test_node_image_is_pinned_by_digest() -> None:
    image = make_setup().node_image
    assert image.startswith("kindest/node:v1.34.11@sha256:") and len(image.split(":")[-1]) == 64


def test_hash_is_stable_and_changes_with_what_the_cluster_is_made_of(tmp_path: Path) -> None:
    a = make_setup("default", "1.20.0", files_dir=tmp_path / "a")
    b = make_setup("default", "1.20.0", files_dir=tmp_path / "b")
    assert a.config_hash() == b.config_hash()
    others = {make_setup("default", v).config_hash() for v in ("1.19.6", "1.18.12")}
    others.add(make_setup("no-auth", "1.20.0").config_hash())
    assert a.config_hash() not in others and len(others) == 3
    assert config_hash({"x": 1}) != config_hash({"x": 2})
    assert config_hash({"a": 1, "b": 2}) == config_hash({"b": 2, "a": 1})


def test_upgraded_setup_hashes_like_a_fresh_one() -> None:
    fresh = make_setup("default", "1.20.0")
    upgraded = make_setup("default", "1.20.0", upgrade_from="1.19.6")
    assert upgraded.values()["upgradeCompatibility"] == "1.19"
    assert upgraded.config_hash() == fresh.config_hash()


def test_decisions() -> None:
    h = "a" * 64
    assert decide("c", False, None, h, recreate=False) is Decision.CREATE
    assert decide("c", False, None, h, recreate=True) is Decision.CREATE
    assert decide("c", True, h, h, recreate=False) is Decision.REUSE
    assert decide("c", True, "b" * 64, h, recreate=True) is Decision.RECREATE
    assert decide("c", True, None, h, recreate=True) is Decision.RECREATE
    with pytest.raises(RefusedError, match="different configuration"):
        decide("c", True, "b" * 64, h, recreate=False)
    with pytest.raises(RefusedError, match="no ConfigMap"):
        decide("c", True, None, h, recreate=False)


def test_corefile_answers_targets_locally_with_short_ttl_and_explicit_upstream() -> None:
    doc = yaml.safe_load(render_coredns_configmap(TARGETS, ("1.1.1.1", "8.8.8.8"), 5))
    assert (doc["kind"], doc["metadata"]["name"], doc["metadata"]["namespace"]) == (
        "ConfigMap", "coredns", "kube-system")
    core = doc["data"]["Corefile"]
    hosts = core[core.index("hosts {"):core.index("}", core.index("hosts {"))]
    assert "192.0.2.10 api.stripe.com" in hosts and "192.0.2.11 api.pastebin.com" in hosts
    assert "ttl 5" in hosts
    assert "forward . 1.1.1.1 8.8.8.8" in core
    assert "/etc/resolv.conf" not in core
    # The targets' parent zones get a server block of their own with no fallthrough and no
    # forward: other names under them are answered locally (the hosts plugin says SERVFAIL
    # for a name it has no record of), never upstream.
    zone_block = core[:core.index(".:53 {")]
    assert zone_block.lstrip().startswith("pastebin.com:53 stripe.com:53 {")
    assert "hosts {" in zone_block
    assert "fallthrough" not in zone_block and "forward" not in zone_block
    assert "hosts {" not in core[core.index(".:53 {"):]


@pytest.mark.parametrize(("targets", "upstream", "message"), [
    ({"api.stripe.com": "not-an-ip"}, ("1.1.1.1",), "not an IP address"),
    ({"bad name!": "192.0.2.1"}, ("1.1.1.1",), "not a valid DNS name"),
    (TARGETS, ("dns.google",), "coredns.upstream"),
    (TARGETS, (), "empty"),
])
def test_corefile_bad_input(targets: dict[str, str], upstream: tuple[str, ...],
                            message: str) -> None:
    with pytest.raises(InputError, match=message):
        render_coredns_configmap(targets, upstream, 5)


def test_profile_agent_options(tmp_path: Path) -> None:
    """Profiles carry the agent options the model assumes (conformance/model/options.py)."""
    from conformance.model.options import AgentOptions
    assert load_profile("default").agent_options == AgentOptions()
    assert load_profile("no-auth").agent_options == AgentOptions(mutual_auth=False)
    default = (Path(__file__).parents[2] / "clusters" / "profiles" / "default.yaml").read_text()
    (tmp_path / "default.yaml").write_text(default)
    (tmp_path / "strict.yaml").write_text(
        "extends: default\nhelm_values: {policyEnforcementMode: always, l7Proxy: false}\n")
    assert load_profile("strict", tmp_path).agent_options == AgentOptions(
        enforcement="always", l7_proxy=False)
    (tmp_path / "bad.yaml").write_text(
        "extends: default\nhelm_values: {policyEnforcementMode: sometimes}\n")
    with pytest.raises(InputError, match=r"bad\.yaml: field `helm_values`: Helm value "
                                         "policyEnforcementMode"):
        load_profile("bad", tmp_path)
