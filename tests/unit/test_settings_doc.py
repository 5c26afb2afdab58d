"""docs/configuration.md lists every setting (issue 17): its table is generated from the settings model,
and this test fails when a setting is added without a description or the docs were not regenerated."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.settings import Settings
from service.settings_doc import BEGIN, END, main, settings_table, update

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
FIX = "python -m service.settings_doc docs/configuration.md"


def test_every_setting_has_a_description() -> None:
    missing = [name for name, field in Settings.model_fields.items() if not field.description]
    assert not missing, f"describe these settings with Field(description=...), then run {FIX}: {missing}"


def test_the_docs_table_lists_every_setting_as_generated() -> None:
    text = DOC.read_text(encoding="utf-8")
    section = text.split(BEGIN, 1)[1].split(END, 1)[0]
    for name in Settings.model_fields:
        assert f"| `MEDIC_{name.upper()}` |" in section, (
            f"MEDIC_{name.upper()} is not in the table: run {FIX}"
        )
    assert update(text) == text, f"the settings table in docs/configuration.md is out of date: run {FIX}"


def test_the_generator_rewrites_only_its_section(tmp_path: Path) -> None:
    class Small(BaseSettings):
        model_config = SettingsConfigDict(env_prefix="MEDIC_")
        port: int = Field(default=8080, description="the | port")
        names: list[str] = Field(default_factory=list, description="names")

    table = settings_table(Small)
    assert "| `MEDIC_PORT` | `8080` | the \\| port |" in table and "| `MEDIC_NAMES` | `[]` | names |" in table
    first = update("# Configuration\n\nProse.\n", Small)
    assert first.startswith("# Configuration\n\nProse.\n\n## Every setting\n") and BEGIN in first
    edited = first.replace("Prose.", "Prose, edited.") + "\nAfter.\n"
    assert update(edited, Small) == edited
    doc = tmp_path / "configuration.md"
    doc.write_text(edited.replace("`8080`", "`1`"))
    assert main([str(doc), "--check"]) == 1
    assert main([str(doc)]) == 0 and main([str(doc), "--check"]) == 0
    assert "Prose, edited." in doc.read_text() and "\nAfter.\n" in doc.read_text()
