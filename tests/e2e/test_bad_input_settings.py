"""Issue 25 items 1 and 4: a machine.json with fields of the wrong type and malformed server URLs
get a clear exit 2 naming what is wrong, on every command, before anything is written (real CLI)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests._support.cli import assert_clean, cli, cli_here, tiny_densesirst


@pytest.fixture(scope="module")
def src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("src") / "SIRSTdevkit"
    tiny_densesirst(root, n=2)
    return root


def _config(tmp_path: Path, content: str) -> dict:
    cfg = tmp_path / "cfg"
    cfg.mkdir(exist_ok=True)
    (cfg / "machine.json").write_text(content, encoding="utf-8")
    return {"SIRST_CONFIG_DIR": str(cfg)}


@pytest.mark.parametrize(
    "content, field",
    [
        ('{"user": 123}', '"user"'),
        ('{"user": ["alice"]}', '"user"'),
        ('{"user": true}', '"user"'),
        ('{"user": {"name": "a"}}', '"user"'),
        ('{"user": "a", "path_map": "/mnt/a"}', '"path_map"'),
        ('{"user": "a", "path_map": {"/mnt/a": "/b"}}', '"path_map"'),
        ('{"user": "a", "path_map": [[1, 2]]}', '"path_map"'),
        ('{"user": "a", "path_map": [["/mnt/a"]]}', '"path_map"'),
        ('{"user": "a", "path_map": [["/mnt/a", ""]]}', '"path_map"'),
        ("[]", "JSON object"),
        ("null", "JSON object"),
    ],
)
def test_wrong_field_types_in_machine_json_exit_2_and_create_nothing(src, tmp_path, content, field) -> None:
    env = _config(tmp_path, content)
    file = str(tmp_path / "cfg" / "machine.json")
    demo, imported = tmp_path / "demo", tmp_path / "imported"
    for args, folder in ((["demo", demo], demo), (["import", src, imported, "--format", "densesirst"], imported)):
        result = cli_here(*args, env=env)
        assert_clean(result)
        assert result.returncode == 2, result.stderr
        assert file in result.stderr and field in result.stderr, result.stderr
        assert not folder.exists()  # not even a half-created project


def test_wrong_user_type_is_refused_by_info_too_and_a_null_user_is_the_login_name(src, tmp_path) -> None:
    project = tmp_path / "p"
    assert cli_here("import", src, project, "--format", "densesirst", env=_config(tmp_path, '{"user": "ann"}')).returncode == 0
    result = cli_here("info", project, env=_config(tmp_path, '{"user": 123}'))
    assert_clean(result)
    assert result.returncode == 2 and '"user" must be your name as text' in result.stderr and "123" in result.stderr
    result = cli_here("info", project, env=_config(tmp_path, '{"user": null, "path_map": null}'))
    assert result.returncode == 0, result.stderr


BAD_URLS = [
    ("postgresql+psycopg://u@127.0.0.1:notaport/db", "the port is not a number"),
    ("postgresql+psycopg://u:secret@[::1/db", "[ ] around an IPv6 host are not closed"),
    ("postgresql+nosuchdriver://u@h/db", "unknown database driver 'nosuchdriver'"),
]


@pytest.mark.parametrize("url, words", BAD_URLS)
def test_malformed_server_urls_exit_2_on_every_command_that_takes_a_project(src, tmp_path, url, words) -> None:
    out = tmp_path / "out"
    commands = [
        ["info", url],
        ["import", src, url, "--format", "densesirst"],
        ["export", url, out, "--format", "coco"],
        ["train", "--project", url, "--out", out],
        ["train-sky", "--project", url, "--weights", tmp_path / "w.safetensors", "--out", out],
        ["gui", url],
    ]
    for args in commands:
        run = cli if args[0] == "gui" else cli_here  # the GUI in its own process: a refusal missed would open it
        result = run(*args, env={"QT_QPA_PLATFORM": "offscreen"})
        assert_clean(result)
        assert result.returncode == 2, (args, result.stderr)
        assert words in result.stderr, (args, result.stderr)
        assert "secret" not in result.stderr  # the password never reaches a message
        assert not out.exists(), args  # no run folder, no export
