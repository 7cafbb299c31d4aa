"""The German catalogue is complete and sound, and the pages come out in the right language.

(a) A fresh extraction of the code and templates (as `make extract-messages` does it, into a temporary .pot)
    against tourbook/translations/de/LC_MESSAGES/messages.po: every msgid needs a non-empty, non-fuzzy German
    translation. A newly added English string without German fails here with the list of the missing ones —
    run `make extract-messages` and translate them.
(b) The placeholders of every msgstr are those of its msgid (same names, same conversion), so formatting
    never raises and never drops a value.
(c) The login page is German without Accept-Language and English with ?lang=en.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "tourbook" / "translations"
GERMAN_PO = TRANSLATIONS / "de" / "LC_MESSAGES" / "messages.po"
GERMAN_MO = GERMAN_PO.with_suffix(".mo")

# Python %-format conversions: %(name)s, %(num)d, %s, %5.2f … ("%%" is a literal percent sign).
PLACEHOLDER = re.compile(
    r"%(?:\((?P<name>[^)]*)\))?[#0\- +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?(?P<type>[diouxXeEfFgGcrsa%])"
)


def _extra_keywords() -> list[str]:
    """The -k options of the Makefile's extract-messages target: the test extracts what the team extracts."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    line = next((ln for ln in makefile.splitlines() if "pybabel extract" in ln), "")
    return re.findall(r"(?:-k|--keyword(?:=|\s))\s*(\S+)", line) or ["_l", "lazy_gettext"]


def _fresh_template(directory: Path) -> Catalog:
    """Extract all messages of tourbook/*.py and templates/ into a temporary .pot and read it back."""
    with open(ROOT / "babel.cfg", encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh, filename=str(ROOT / "babel.cfg"))
    keywords = dict(DEFAULT_KEYWORDS)
    for spec in _extra_keywords():
        keywords.setdefault(spec.split(":")[0], None)
    template = Catalog(project="Tourbook", charset="utf-8")
    for filename, lineno, message, comments, context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=keywords, strip_comment_tags=True
    ):
        template.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    pot = directory / "messages.pot"
    with open(pot, "wb") as fh:
        write_po(fh, template, sort_output=True)
    with open(pot, "rb") as fh:
        return read_po(fh)


def _german() -> Catalog:
    with open(GERMAN_PO, "rb") as fh:
        return read_po(fh, locale="de")


def _strings(message: Message) -> tuple[str, ...]:
    return message.string if isinstance(message.string, tuple) else (message.string,)


def _ids(message: Message) -> tuple[str, ...]:
    return message.id if isinstance(message.id, tuple) else (message.id,)


def _label(message: Message) -> str:
    return repr(message.id[0] if isinstance(message.id, tuple) else message.id)


@pytest.fixture(scope="module")
def template() -> Catalog:
    with tempfile.TemporaryDirectory() as tmp:
        return _fresh_template(Path(tmp))


@pytest.fixture(scope="module")
def german() -> Catalog:
    return _german()


@pytest.fixture(scope="session", autouse=True)
def compiled_catalogue() -> None:
    """Compile the German catalogue like `make translations` when the .mo is missing or older than the .po
    (the .mo files are git-ignored). Written atomically, so a parallel run never reads half a file."""
    if GERMAN_MO.exists() and GERMAN_MO.stat().st_mtime >= GERMAN_PO.stat().st_mtime:
        return
    catalog = _german()
    fd, tmp = tempfile.mkstemp(dir=GERMAN_MO.parent, suffix=".mo.tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write_mo(fh, catalog, use_fuzzy=False)
        os.replace(tmp, GERMAN_MO)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


# --- (a) every string of the code has German -------------------------------------------------------


def test_extraction_finds_the_code_and_the_templates(template):
    """Guard against an extraction that silently finds nothing (wrong babel.cfg, wrong directory)."""
    files = {filename for message in template if message.id for filename, _ in message.locations}
    assert any(f.startswith("tourbook/") and f.endswith(".py") for f in files), files
    assert any(f.startswith("templates/") and f.endswith(".html") for f in files), files
    assert len([m for m in template if m.id]) > 50


def test_every_message_of_the_code_has_a_german_translation(template, german):
    missing: list[str] = []
    for message in template:
        if not message.id:
            continue
        translated = german.get(message.id, message.context)
        where = ", ".join(f"{f}:{n}" for f, n in message.locations[:3])
        if translated is None:
            missing.append(f"{_label(message)} ({where}): not in messages.po")
        elif translated.fuzzy:
            missing.append(f"{_label(message)} ({where}): fuzzy")
        elif not all(s.strip() for s in _strings(translated)):
            missing.append(f"{_label(message)} ({where}): empty msgstr")
        elif isinstance(message.id, tuple) != isinstance(translated.id, tuple):
            missing.append(f"{_label(message)} ({where}): singular/plural differs from the code")
    assert not missing, (
        f"{len(missing)} message(s) without German – run `make extract-messages` and translate them in "
        f"{GERMAN_PO.relative_to(ROOT)}:\n  " + "\n  ".join(missing)
    )


def test_the_german_catalogue_has_no_fuzzy_or_empty_entries(german):
    bad = [
        _label(m) for m in german
        if m.id and (m.fuzzy or not all(s.strip() for s in _strings(m)))
    ]
    assert not bad, "fuzzy or empty entries in messages.po:\n  " + "\n  ".join(bad)


def test_german_plurals_have_two_forms(german):
    assert german.num_plurals == 2
    bad = [_label(m) for m in german if m.id and isinstance(m.id, tuple) and len(_strings(m)) != 2]
    assert not bad, bad


# --- (b) placeholders --------------------------------------------------------------------------------


def _placeholders(text: str) -> list[tuple[str | None, str]]:
    return sorted(
        ((m.group("name"), m.group("type")) for m in PLACEHOLDER.finditer(text) if m.group("type") != "%"),
        key=repr,
    )


def _dummy_values(texts: tuple[str, ...]) -> dict[str, object]:
    values: dict[str, object] = {}
    for text in texts:
        for name, kind in _placeholders(text):
            if name is not None:
                values[name] = 3 if kind in "diouxXeEfFgGc" else "x"
    return values


def test_placeholders_of_every_translation_match_the_msgid(german):
    wrong: list[str] = []
    for message in german:
        if not message.id or not any(_strings(message)):
            continue
        ids, strings = _ids(message), _strings(message)
        expected = _placeholders(ids[-1])
        allowed = {p for text in ids for p in _placeholders(text)}
        for index, string in enumerate(strings):
            found = _placeholders(string)
            if isinstance(message.id, tuple):
                # A plural form other than the last may leave out the number ("eine Tour"), never add one.
                ok = set(found) <= allowed and (index < len(strings) - 1 or set(found) == set(expected))
            else:
                ok = found == expected
            if not ok:
                wrong.append(
                    f"{_label(message)}: msgid has {expected}, msgstr[{index}] {string!r} has {found}"
                )
                continue
            values = _dummy_values(ids)
            if values:  # flask-babel formats with `string % variables` only when variables are given
                try:
                    string % values
                except (KeyError, ValueError, TypeError) as error:
                    wrong.append(f"{_label(message)}: {string!r} cannot be formatted ({error})")
    assert not wrong, "placeholders differ:\n  " + "\n  ".join(wrong)


def test_placeholder_check_catches_mistakes():
    assert _placeholders("Tour am %(date)s um %(time)s") == _placeholders("Tour on %(date)s at %(time)s")
    assert _placeholders("%(num)d Touren") != _placeholders("%(num)s tours")
    assert _placeholders("Tour am %(datum)s") != _placeholders("Tour on %(date)s")
    assert _placeholders("100 %% sicher") == []


# --- (c) the pages come out in the right language ----------------------------------------------------


def test_login_page_is_german_without_accept_language(client):
    response = client.get("/login")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert '<html lang="de">' in page
    assert "Anmelden" in page
    assert "Bei Tourbook anmelden" in page
    assert "Sign in" not in page


def test_login_page_is_english_with_lang_en(client):
    response = client.get("/login?lang=en")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert '<html lang="en">' in page
    assert "Sign in to Tourbook" in page
    assert "Anmelden" not in page
