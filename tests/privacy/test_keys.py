"""Where keys come from, what a bad key says, and key rotation (privacy/keys.py)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet, InvalidToken

from core.settings import Settings
from privacy import keyring as privacy_keyring
from privacy.keyring import Keyring, load_keyring, rotate_keys_file
from privacy.keys import main
from tests.servers import ROOT

K1, K2, K3 = (Fernet.generate_key() for _ in range(3))
P_ENV, P_FILE = b"p" * 40, b"q" * 40
CLEAN = (
    "PZ_ENCRYPTION_KEYS",
    "PZ_ENCRYPTION_KEYS_FILE",
    "PZ_PSEUDONYM_KEY",
    "PZ_PSEUDONYM_KEY_FILE",
)


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def primary_of(keyring: Keyring) -> bytes:
    """Which known key the keyring encrypts with (checked by decrypting, not by looking)."""
    token = keyring.fernet.encrypt(b"x")
    for key in (K1, K2, K3):
        try:
            Fernet(key).decrypt(token)
            return key
        except InvalidToken:
            pass
    raise AssertionError("encrypted with an unknown key")


@pytest.fixture
def files(tmp_path):
    keys_file = tmp_path / "keys"
    keys_file.write_text(f"# rotated 2024-01-01\n{K2.decode()}  # newest\n\n{K3.decode()}\n")
    pseudo_file = tmp_path / "pseudo"
    pseudo_file.write_text("# pseudonym key\n" + P_FILE.decode() + "\n")
    return {"keys": str(keys_file), "pseudo": str(pseudo_file), "dev": tmp_path / "secrets"}


# env, allow_dev -> primary key, all keys, source contains, pseudonym key, pseudonym source
PRECEDENCE = [
    pytest.param(
        {"PZ_ENCRYPTION_KEYS": f"{K1.decode()}, {K3.decode()}", "PZ_ENCRYPTION_KEYS_FILE": "keys",
         "PZ_PSEUDONYM_KEY": P_ENV.decode(), "PZ_PSEUDONYM_KEY_FILE": "pseudo"},
        True, (K1, K3), "PZ_ENCRYPTION_KEYS", P_ENV, "PZ_PSEUDONYM_KEY", id="env-beats-file",
    ),
    pytest.param(
        {"PZ_ENCRYPTION_KEYS": "  ", "PZ_ENCRYPTION_KEYS_FILE": "keys",
         "PZ_PSEUDONYM_KEY": "", "PZ_PSEUDONYM_KEY_FILE": "pseudo"},
        True, (K2, K3), "PZ_ENCRYPTION_KEYS_FILE", P_FILE, "PZ_PSEUDONYM_KEY_FILE",
        id="blank-env-means-unset-file-beats-dev",
    ),
    pytest.param(
        {"PZ_ENCRYPTION_KEYS_FILE": "keys", "PZ_PSEUDONYM_KEY": P_ENV.decode()},
        False, (K2, K3), "PZ_ENCRYPTION_KEYS_FILE", P_ENV, "PZ_PSEUDONYM_KEY", id="mixed",
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    "env, allow_dev, expected_keys, key_source, pseudo_key, pseudo_source", PRECEDENCE
)
def test_configured_keys_take_precedence(
    files, env, allow_dev, expected_keys, key_source, pseudo_key, pseudo_source
):
    env = {name: files.get(value, value) for name, value in env.items()}
    keyring = load_keyring(env, files["dev"], allow_dev=allow_dev)
    assert keyring.encryption_keys == expected_keys
    assert primary_of(keyring) == expected_keys[0]
    for key in expected_keys:  # every configured key still decrypts
        assert keyring.fernet.decrypt(Fernet(key).encrypt(b"old")) == b"old"
    assert keyring.encryption_source.startswith(key_source)
    assert keyring.pseudonym_key == pseudo_key
    assert keyring.pseudonym_source.startswith(pseudo_source)
    assert not files["dev"].exists()  # configured keys never create development files


def test_dev_files_are_created_once_with_mode_600(tmp_path):
    secrets_dir = tmp_path / "secrets"
    first = load_keyring({}, secrets_dir, allow_dev=True)
    keys_file, pseudo_file = secrets_dir / "encryption.keys", secrets_dir / "pseudonym.key"
    assert mode(keys_file) == 0o600 and mode(pseudo_file) == 0o600
    assert mode(secrets_dir) & 0o077 == 0
    assert first.key_count == 1 and len(first.pseudonym_key) >= 32
    assert str(keys_file) in first.encryption_source
    assert str(pseudo_file) in first.pseudonym_source

    keys_file.chmod(0o644)
    again = load_keyring({}, secrets_dir, allow_dev=True)
    assert again == first  # reused, not replaced
    assert again.fernet.decrypt(first.fernet.encrypt(b"kept")) == b"kept"
    assert mode(keys_file) == 0o600  # a loosened dev file is tightened again


def test_without_allow_dev_nothing_is_invented(tmp_path):
    with pytest.raises(ValueError, match="no encryption keys: set PZ_ENCRYPTION_KEYS"):
        load_keyring({}, tmp_path / "secrets")
    with pytest.raises(ValueError, match="no pseudonym key: set PZ_PSEUDONYM_KEY"):
        load_keyring({"PZ_ENCRYPTION_KEYS": K1.decode()}, tmp_path / "secrets")
    assert not (tmp_path / "secrets").exists()


SECRET_LOOKING = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"  # base64, but 27 bytes: not a Fernet key

# (file name -> content), env, expected message
BAD = [
    ({}, {"PZ_ENCRYPTION_KEYS": SECRET_LOOKING}, r"^PZ_ENCRYPTION_KEYS: entry 1 is not a Fernet"),
    ({}, {"PZ_ENCRYPTION_KEYS": f"{K1.decode()},{SECRET_LOOKING}"},
     r"^PZ_ENCRYPTION_KEYS: entry 2 is not a Fernet key"),
    ({}, {"PZ_ENCRYPTION_KEYS": " , "}, r"^PZ_ENCRYPTION_KEYS: no keys found"),
    ({}, {"PZ_ENCRYPTION_KEYS_FILE": "missing"},
     r"^PZ_ENCRYPTION_KEYS_FILE=.*missing: cannot read it \(No such file"),
    ({"k": "# only a comment\n\n"}, {"PZ_ENCRYPTION_KEYS_FILE": "k"}, r"k: no keys found"),
    ({"k": f"# c\n{K1.decode()}\n{SECRET_LOOKING}\n"}, {"PZ_ENCRYPTION_KEYS_FILE": "k"},
     r"^PZ_ENCRYPTION_KEYS_FILE=.*k: line 3 is not a Fernet key"),
    ({"k": b"\xff\xfe".decode("latin-1")}, {"PZ_ENCRYPTION_KEYS_FILE": "k"},
     r"k: cannot read it \(not UTF-8 text\)"),
    ({}, {"PZ_ENCRYPTION_KEYS": K1.decode(), "PZ_PSEUDONYM_KEY": SECRET_LOOKING[:20]},
     r"^PZ_PSEUDONYM_KEY: the key is too short \(20 bytes, needs 32\)"),
    ({"p": "a" * 40 + "\n" + "b" * 40},
     {"PZ_ENCRYPTION_KEYS": K1.decode(), "PZ_PSEUDONYM_KEY_FILE": "p"},
     r"^PZ_PSEUDONYM_KEY_FILE=.*p: expected exactly one key, found 2"),
    ({"secrets/encryption.keys": SECRET_LOOKING}, {}, r"^development keys file .*line 1 is not"),
    ({"secrets/pseudonym.key": "tiny-secret"}, {"PZ_ENCRYPTION_KEYS": K1.decode()},
     r"^development pseudonym key file .*too short"),
]  # fmt: skip


@pytest.mark.parametrize("contents, env, message", BAD)
def test_bad_key_material_is_a_one_line_error_without_the_key(tmp_path, contents, env, message):
    (tmp_path / "secrets").mkdir()
    for name, text in contents.items():
        (tmp_path / name).write_text(text, encoding="latin-1")
    env = {k: str(tmp_path / v) if k.endswith("_FILE") else v for k, v in env.items()}
    with pytest.raises(ValueError, match=message) as caught:
        load_keyring(env, tmp_path / "secrets", allow_dev=True)
    text = str(caught.value)
    assert "\n" not in text
    for secret in (SECRET_LOOKING[:20], "a" * 40, "tiny-secret"):
        assert secret not in text


def test_the_repr_shows_sources_not_keys():
    keyring = Keyring((K1, K2), P_ENV, "PZ_ENCRYPTION_KEYS", "PZ_PSEUDONYM_KEY")
    assert "PZ_ENCRYPTION_KEYS" in repr(keyring)
    for secret in (K1, K2, P_ENV):
        assert secret.decode() not in repr(keyring) and secret.decode() not in str(keyring)
    with pytest.raises(ValueError, match="at least one"):
        Keyring((), P_ENV)


def test_rotation_keeps_old_data_readable_and_encrypts_with_the_new_key(tmp_path):
    keys_file = tmp_path / "keys"
    keys_file.write_text(f"# production keys\n{K1.decode()}\n# retired 2023\n{K2.decode()}")
    keys_file.chmod(0o640)
    env = {"PZ_ENCRYPTION_KEYS_FILE": str(keys_file), "PZ_PSEUDONYM_KEY": P_ENV.decode()}
    before = load_keyring(env, tmp_path)
    old_tokens = [before.fernet.encrypt(b"alice"), Fernet(K2).encrypt(b"bob")]

    assert rotate_keys_file(keys_file) == 3
    after = load_keyring(env, tmp_path)
    assert mode(keys_file) == 0o600
    assert after.encryption_keys[1:] == (K1, K2)
    new_key = after.encryption_keys[0]
    assert new_key not in (K1, K2)
    lines = keys_file.read_text().splitlines()
    assert lines[0] == "# production keys" and lines[1] == new_key.decode()
    assert "# retired 2023" in lines
    assert [after.fernet.decrypt(t) for t in old_tokens] == [b"alice", b"bob"]
    fresh = after.fernet.encrypt(b"carol")
    assert Fernet(new_key).decrypt(fresh) == b"carol"
    with pytest.raises(InvalidToken):
        before.fernet.decrypt(fresh)
    assert not list(tmp_path.glob(".keys.*"))  # no temporary file left behind


def test_rotating_a_missing_file_creates_it_and_a_bad_file_is_left_alone(tmp_path):
    created = tmp_path / "new" / "keys"
    assert rotate_keys_file(created) == 1
    assert mode(created) == 0o600
    assert load_keyring({"PZ_ENCRYPTION_KEYS_FILE": str(created), "PZ_PSEUDONYM_KEY": "x" * 32})

    bad = tmp_path / "bad"
    bad.write_text(f"{K1.decode()}\nnot-a-key\n")
    with pytest.raises(ValueError, match="line 2 is not a Fernet key"):
        rotate_keys_file(bad)
    assert bad.read_text() == f"{K1.decode()}\nnot-a-key\n"


@pytest.fixture
def clean_env(monkeypatch):
    for name in CLEAN:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_cli_rotate_and_status_never_print_keys(tmp_path, clean_env, capsys):
    keys_file = tmp_path / "keys"
    assert main(["rotate", "--keys-file", str(keys_file)]) == 0
    assert main(["rotate", "--keys-file", str(keys_file)]) == 0
    out = capsys.readouterr().out
    assert f"created {keys_file}" in out and f"added a new first key to {keys_file}" in out
    assert "2 keys" in out

    clean_env.setenv("PZ_ENCRYPTION_KEYS_FILE", str(keys_file))
    clean_env.setenv("PZ_PSEUDONYM_KEY", P_ENV.decode())
    assert main(["--secrets-dir", str(tmp_path / "s"), "status"]) == 0
    status = capsys.readouterr().out
    assert f"encryption keys: 2 from PZ_ENCRYPTION_KEYS_FILE ({keys_file})" in status
    assert "pseudonym key: from PZ_PSEUDONYM_KEY" in status
    for key in load_keyring(os.environ, tmp_path).encryption_keys:
        assert key.decode() not in out + status
    assert P_ENV.decode() not in status


def test_cli_rotate_defaults_to_the_configured_file_then_the_dev_file(tmp_path, clean_env, capsys):
    configured = tmp_path / "configured"
    clean_env.setenv("PZ_ENCRYPTION_KEYS_FILE", str(configured))
    assert main(["--secrets-dir", str(tmp_path / "s"), "rotate"]) == 0
    assert configured.exists() and not (tmp_path / "s").exists()
    clean_env.delenv("PZ_ENCRYPTION_KEYS_FILE")
    assert main(["--secrets-dir", str(tmp_path / "s"), "rotate"]) == 0
    assert mode(tmp_path / "s" / "encryption.keys") == 0o600
    capsys.readouterr()

    clean_env.setenv("PZ_ENCRYPTION_KEYS", K1.decode())
    assert main(["--secrets-dir", str(tmp_path / "s"), "rotate"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("Error: keys come from PZ_ENCRYPTION_KEYS") and err.count("\n") == 1


def test_cli_status_reports_what_is_missing(tmp_path, clean_env, capsys):
    assert main(["--secrets-dir", str(tmp_path / "s"), "status"]) == 2
    out = capsys.readouterr().out
    assert "encryption keys: not usable: no encryption keys" in out
    assert "pseudonym key: not usable: no pseudonym key" in out
    assert not (tmp_path / "s").exists()
    assert main(["--secrets-dir", str(tmp_path / "s"), "status", "--dev"]) == 0
    assert "encryption keys: 1 from development keys file" in capsys.readouterr().out


def test_python_dash_m_entry_point(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in CLEAN}
    env["PZ_ENCRYPTION_KEYS"] = f"{K1.decode()},{K2.decode()}"
    proc = subprocess.run(
        [sys.executable, "-m", "privacy.keys", "--secrets-dir", str(tmp_path), "status"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "encryption keys: 2 from PZ_ENCRYPTION_KEYS" in proc.stdout
    assert K1.decode() not in proc.stdout + proc.stderr


def test_default_dev_dir_is_the_repository_var_secrets():
    assert privacy_keyring.DEFAULT_SECRETS_DIR == ROOT / "var" / "secrets"
    assert Settings.from_env({}).paths.secrets_dir == ROOT / "var" / "secrets"
