"""Golden tests: step keys are pinned, pure functions of their inputs."""

from __future__ import annotations

from dockyard.build.keys import KeyDifference, KeyInputs


def run_step(**overrides: object) -> KeyInputs:
    inputs: dict[str, object] = {
        "command": ["/bin/sh", "-c", "go mod download"],
        "env": ["PATH=/usr/bin:/bin", "CGO_ENABLED=0"],
        "user": "",
        "workdir": "/src",
        "network": "none",
        "mounts": [],
    }
    inputs.update(overrides)
    return KeyInputs.of("run", "sha256:" + "1" * 64, inputs)


def test_golden_run_key() -> None:
    # Pinned: if this changes, every user's cache is invalidated. Bump KEY_VERSION on purpose.
    assert (
        run_step().key == "sha256:cdd734d451501e2f43acfcc597fdf4f4dd46c44659bff9e6b685ecb7308a17f5"
    )


def test_golden_copy_key() -> None:
    step = KeyInputs.of(
        "copy",
        None,
        [("sources", "sha256:" + "2" * 64), ("dest", "/app/"), ("chown", ""), ("chmod", "")],
    )
    assert step.key == "sha256:4ab9e8a30a6721f17dcdf45516defe00aace933b2f4328f56810a252c925a789"


def test_key_changes_with_each_input() -> None:
    base = run_step().key
    for name, value in [
        ("command", ["sh", "-c", "true"]),
        ("env", []),
        ("user", "1000"),
        ("workdir", "/"),
        ("network", "host"),
    ]:
        assert run_step(**{name: value}).key != base, name


def test_key_is_pure() -> None:
    assert run_step().key == run_step().key


def test_first_difference_names_the_input() -> None:
    before = run_step()
    after = run_step(env=["PATH=/usr/bin:/bin", "CGO_ENABLED=1"])
    diff = after.first_difference(before)
    assert diff == KeyDifference("env", before.inputs[1][1], after.inputs[1][1])
    assert "env changed" in diff.describe()
    assert run_step().first_difference(before) is None


def test_parent_difference_comes_first() -> None:
    a = KeyInputs.of("run", "sha256:a", {"command": "x"})
    b = KeyInputs.of("run", "sha256:b", {"command": "y"})
    diff = b.first_difference(a)
    assert diff is not None
    assert diff.name == "parent"


def test_roundtrip_dict() -> None:
    step = run_step()
    assert KeyInputs.from_dict(step.to_dict()) == step
