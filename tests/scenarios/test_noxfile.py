"""`nox -s conformance`: the JUnit report goes where --artifacts says, and the disruptive
pass reads ZTC_DISRUPTIVE with the suite's boolean words."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def noxfile() -> ModuleType:
    pytest.importorskip("nox")
    spec = importlib.util.spec_from_file_location("ztc_noxfile", REPO / "noxfile.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("args", "env", "expected"), [
    ([], {}, "artifacts"),
    (["--artifacts", "/srv/evidence"], {}, "/srv/evidence"),
    (["--cluster=simulated", "--artifacts=out"], {}, "out"),
    ([], {"ZTC_ARTIFACTS": "/tmp/ci"}, "/tmp/ci"),
    (["--artifacts=cli"], {"ZTC_ARTIFACTS": "/tmp/ci"}, "cli"),  # the flag wins
])
def test_junit_follows_the_artifacts_directory(noxfile: ModuleType, args: list[str],
                                               env: dict[str, str], expected: str) -> None:
    assert noxfile.artifacts_dir(args, env) == expected


def test_disruptive_words(noxfile: ModuleType) -> None:
    for word in ("1", "true", "YES", "on"):
        assert noxfile.env_flag("ZTC_DISRUPTIVE", {"ZTC_DISRUPTIVE": word})
    for word in ("", "0", "False", "no", "off"):
        assert not noxfile.env_flag("ZTC_DISRUPTIVE", {"ZTC_DISRUPTIVE": word})
    assert not noxfile.env_flag("ZTC_DISRUPTIVE", {})
    with pytest.raises(ValueError, match="ZTC_DISRUPTIVE='maybe' is not a boolean"):
        noxfile.env_flag("ZTC_DISRUPTIVE", {"ZTC_DISRUPTIVE": "maybe"})
