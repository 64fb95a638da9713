"""Settings precedence: command-line flag > UVQC_* environment > uvqc.toml > default."""

from __future__ import annotations

from pathlib import Path

import pytest

from uvqc.errors import SettingsError, UsageError
from uvqc.settings import load_settings


def test_without_any_configuration_the_defaults_apply() -> None:
    settings = load_settings()
    assert settings.method is None
    assert settings.batch_size == 10


def test_uvqc_toml_in_the_working_directory_overrides_the_defaults(tmp_path: Path) -> None:
    (tmp_path / "uvqc.toml").write_text('method = "from-toml.toml"\nbatch_size = 20\n')
    settings = load_settings()
    assert settings.method == Path("from-toml.toml")
    assert settings.batch_size == 20


def test_the_environment_overrides_uvqc_toml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "uvqc.toml").write_text('method = "from-toml.toml"\nbatch_size = 20\n')
    monkeypatch.setenv("UVQC_METHOD", "from-env.yaml")
    settings = load_settings()
    assert settings.method == Path("from-env.yaml")
    assert settings.batch_size == 20  # what the environment does not set still comes from toml


def test_a_flag_overrides_the_environment_and_uvqc_toml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "uvqc.toml").write_text('method = "from-toml.toml"\n')
    monkeypatch.setenv("UVQC_METHOD", "from-env.yaml")
    assert load_settings(method=Path("flag.toml")).method == Path("flag.toml")


def test_a_flag_that_was_not_given_does_not_hide_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("UVQC_METHOD", "from-env.yaml")
    assert load_settings(method=None).method == Path("from-env.yaml")


def test_environment_names_are_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("uvqc_method", "lower.toml")
    assert load_settings().method == Path("lower.toml")


def test_uvqc_config_names_another_settings_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "uvqc.toml").write_text('method = "ignored.toml"\n')
    other = tmp_path / "lab" / "settings.toml"
    other.parent.mkdir()
    other.write_text('method = "lab.toml"\n')
    monkeypatch.setenv("UVQC_CONFIG", str(other))
    assert load_settings().method == Path("lab.toml")


def test_uvqc_config_naming_a_missing_file_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UVQC_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(SettingsError, match=r"UVQC_CONFIG=.*nope\.toml: no such settings file"):
        load_settings()


def test_a_bad_environment_value_is_a_settings_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("UVQC_BATCH_SIZE", "many")
    with pytest.raises(SettingsError, match=r"invalid settings: UVQC_BATCH_SIZE: .*valid integer"):
        load_settings()


def test_an_out_of_range_value_is_a_settings_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UVQC_BATCH_SIZE", "0")
    with pytest.raises(SettingsError, match=r"UVQC_BATCH_SIZE: .*greater than or equal to 1"):
        load_settings()


def test_an_unknown_key_in_uvqc_toml_is_a_settings_error(tmp_path: Path) -> None:
    (tmp_path / "uvqc.toml").write_text('methd = "typo.toml"\n')
    # observed: reported as "UVQC_METHD: Extra inputs are not permitted"
    reason = r"uvqc\.toml: key 'methd' is not a uvqc setting \(did you mean 'method'\?\)"
    with pytest.raises(SettingsError, match=reason):
        load_settings()


def test_a_uvqc_toml_that_is_not_toml_is_a_settings_error(tmp_path: Path) -> None:
    (tmp_path / "uvqc.toml").write_text('method = "unterminated\n')
    with pytest.raises(SettingsError, match="invalid settings file"):
        load_settings()


def test_settings_errors_are_usage_errors_with_exit_status_2() -> None:
    assert issubclass(SettingsError, UsageError)
    assert SettingsError("x").exit_code == 2


def test_recipients_are_an_rfc5322_address_list_not_a_comma_split(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("UVQC_MAIL_TO", '"Smith, Ann" <ann@lab.example>, qc@lab.example')
    assert load_settings().mail_to == ['"Smith, Ann" <ann@lab.example>', "qc@lab.example"]


def test_a_list_in_uvqc_toml_may_hold_address_lists_too(tmp_path: Path) -> None:
    (tmp_path / "uvqc.toml").write_text(
        'mail_to = ["a@lab.example, b@lab.example", "c@x.example"]\n'
    )
    assert load_settings().mail_to == ["a@lab.example", "b@lab.example", "c@x.example"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("mail_to", "lab", "UVQC_MAIL_TO: .*no local@domain part.*Write addresses like"),
        ("mail_to", "Ann <ann@lab.example", "UVQC_MAIL_TO: .*missing trailing '>'"),
        ("mail_from", "a@lab.example, b@lab.example", "UVQC_MAIL_FROM: .*exactly one"),
        ("mail_from", "uvqc", "UVQC_MAIL_FROM: .*Write one address"),
        ("mail_from", "uvqc@lab.example\r\nBcc: x@y.example", "UVQC_MAIL_FROM: .*line break"),
    ],
)
def test_bad_addresses_are_refused_naming_the_setting_and_what_to_write(
    field: str, value: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(f"UVQC_{field.upper()}", value)
    with pytest.raises(SettingsError, match=message):
        load_settings()


def test_a_non_ascii_local_part_is_accepted_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("UVQC_MAIL_TO", "jürgen@lab.example")
    assert load_settings().mail_to == ["jürgen@lab.example"]
    (warning,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert "UVQC_MAIL_TO" in warning and "SMTPUTF8" in warning
    caplog.clear()
    load_settings(mail_to="qc@bücher.example")  # an IDN domain needs no SMTPUTF8
    assert not [r for r in caplog.records if r.levelname == "WARNING"]


def test_each_problem_is_named_as_the_user_wrote_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "uvqc.toml").write_text('mail_to = "no-at-sign"\nbatch_size = 0\n')
    monkeypatch.setenv("UVQC_SMTP_PORT", "99999")
    with pytest.raises(SettingsError) as caught:
        load_settings(max_attempts=0)
    message = str(caught.value)
    assert "uvqc.toml: key 'mail_to': Value error, 'no-at-sign' is not an RFC 5322" in message
    assert "uvqc.toml: key 'batch_size': Input should be greater than or equal to 1" in message
    assert "UVQC_SMTP_PORT: Input should be less than or equal to 65535" in message
    assert "--max-attempts: Input should be greater than or equal to 1" in message
    with pytest.raises(SettingsError, match="--smtp: Input should be"):
        load_settings(smtp_port=0, flag_names={"smtp_port": "--smtp"})


def test_a_command_validates_only_the_settings_it_uses(tmp_path: Path) -> None:
    # observed: a bad mail_to in uvqc.toml blocked `uvqc check`, which sends no mail
    (tmp_path / "uvqc.toml").write_text('mail_to = "no-at-sign"\nmethod = "m.toml"\n')
    settings = load_settings(only={"method"})
    assert settings.method == Path("m.toml")
    with pytest.raises(SettingsError, match="mail_to"):
        load_settings()
    (tmp_path / "uvqc.toml").write_text('mail_too = "lab@example.org"\n')
    with pytest.raises(SettingsError, match="did you mean 'mail_to'"):
        load_settings(only={"method"})  # a typo is an error for every command
