"""The daily digest's own settings as a user writes them: UVQC_DAILY_DIGEST_AT as H:MM or
HH:MM, a TOML time in uvqc.toml, and the lab name's limits, each error saying what to write."""

from __future__ import annotations

from pathlib import Path

import pytest

from uvqc.errors import SettingsError
from uvqc.settings import load_settings


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("UVQC_CONFIG", "UVQC_DAILY_DIGEST_AT", "UVQC_DAILY_DIGEST_LAB"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    ("written", "kept"), [("7:00", "07:00"), ("07:05", "07:05"), ("23:59", "23:59")]
)
def test_the_environment_takes_h_mm_and_hh_mm(
    monkeypatch: pytest.MonkeyPatch, written: str, kept: str
) -> None:
    monkeypatch.setenv("UVQC_DAILY_DIGEST_AT", written)
    assert load_settings().daily_digest_at == kept


def test_uvqc_toml_takes_a_toml_time_and_a_string(tmp_path: Path) -> None:
    (tmp_path / "uvqc.toml").write_text("daily_digest_at = 07:00:00\n", encoding="utf-8")
    assert load_settings().daily_digest_at == "07:00"
    (tmp_path / "uvqc.toml").write_text('daily_digest_at = "6:30"\n', encoding="utf-8")
    assert load_settings().daily_digest_at == "06:30"


@pytest.mark.parametrize("written", ["24:00", "7:0", "7h", "07:00:00"])
def test_a_bad_time_says_what_to_write(monkeypatch: pytest.MonkeyPatch, written: str) -> None:
    monkeypatch.setenv("UVQC_DAILY_DIGEST_AT", written)
    with pytest.raises(SettingsError, match=r"UVQC_DAILY_DIGEST_AT.*write HH:MM \(24-hour lab"):
        load_settings()


def test_a_toml_time_with_seconds_is_refused(tmp_path: Path) -> None:
    (tmp_path / "uvqc.toml").write_text("daily_digest_at = 07:00:30\n", encoding="utf-8")
    with pytest.raises(SettingsError, match=r"write HH:MM \(24-hour lab time\)"):
        load_settings()


@pytest.mark.parametrize("lab", ["x" * 61, "b 1", "<script>"])
def test_a_lab_name_error_names_the_limit(monkeypatch: pytest.MonkeyPatch, lab: str) -> None:
    monkeypatch.setenv("UVQC_DAILY_DIGEST_LAB", lab)
    with pytest.raises(SettingsError, match=r"1 to 60 characters of A-Z a-z 0-9 \. _ -"):
        load_settings()


def test_a_sixty_character_lab_name_is_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UVQC_DAILY_DIGEST_LAB", "L" * 60)
    assert load_settings().daily_digest_lab == "L" * 60
