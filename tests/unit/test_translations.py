"""Every user-visible string goes through Django's translation machinery, and the German
catalogs are complete: every entry translated (none empty, none fuzzy), the compiled .mo
files are those of the .po files, and `makemessages` finds no string the .po lacks (nor
keeps one the code no longer has). Uses GNU gettext's tools, as Django's makemessages and
compilemessages do (the Makefile installs them)."""

from __future__ import annotations

import gettext
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOCALE = ROOT / "locale"
LANGUAGES = ["de"]
DOMAINS = ["django", "djangojs"]
IGNORED = [".venv", "tests", "data", "benchmarks", "node_modules", "deploy", "docs"]


def catalogs() -> list[Path]:
    return [
        LOCALE / lang / "LC_MESSAGES" / f"{domain}.po" for lang in LANGUAGES for domain in DOMAINS
    ]


def run(*args: str, cwd: Path | None = None) -> str:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def entries(po: Path) -> set[str]:
    out = run("msgcat", "--no-wrap", "--no-location", "--sort-output", str(po))
    found = set()
    for block in out.split("\n\n"):
        lines = [ln for ln in block.splitlines() if not ln.startswith("#")]
        ids = [ln for ln in lines if ln.startswith(("msgid ", "msgid_plural ", "msgctxt "))]
        if ids and ids[0] != 'msgid ""':
            found.add("\n".join(ids))
    return found


@pytest.mark.parametrize("po", catalogs(), ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_every_entry_is_translated_and_none_is_fuzzy(po: Path) -> None:
    assert po.exists(), f"{po} is missing"
    assert run("msgattrib", "--untranslated", "--no-obsolete", str(po)).strip() == "", (
        f"untranslated entries in {po}"
    )
    assert run("msgattrib", "--only-fuzzy", "--no-obsolete", str(po)).strip() == "", (
        f"fuzzy entries in {po}"
    )
    # Placeholders agree between msgid and msgstr (python-format / javascript-format).
    run("msgfmt", "--check", "--output-file=/dev/null", str(po))
    header = po.read_text()
    assert '"Plural-Forms: nplurals=2; plural=(n != 1);\\n"' in header
    assert "#, fuzzy" not in header


@pytest.mark.parametrize("po", catalogs(), ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_compiled_catalog_is_the_po_file(po: Path, tmp_path: Path) -> None:
    """The committed .mo says exactly what the .po says (run `compilemessages` after editing)."""
    mo = po.with_suffix(".mo")
    assert mo.exists(), f"{mo} is missing: run manage.py compilemessages"
    fresh = tmp_path / "fresh.mo"
    run("msgfmt", "--check", "-o", str(fresh), str(po))
    with mo.open("rb") as committed, fresh.open("rb") as compiled:
        assert gettext.GNUTranslations(committed)._catalog == (
            gettext.GNUTranslations(compiled)._catalog
        ), f"{mo} is stale: run manage.py compilemessages"


def test_makemessages_finds_nothing_the_catalogs_lack(tmp_path: Path) -> None:
    """A copy of the code, `makemessages` for every language and domain, compared with the
    committed catalogs: no string missing from them, none left over."""
    copy = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.mo", "node_modules")
    for name in ("webclient", "templates", "static", "locale"):
        shutil.copytree(ROOT / name, copy / name, ignore=ignore)
    shutil.copy(ROOT / "manage.py", copy / "manage.py")
    env_args = [f"--ignore={name}" for name in IGNORED]
    for lang in LANGUAGES:
        for domain in DOMAINS:
            subprocess.run(
                [
                    sys.executable,
                    "manage.py",
                    "makemessages",
                    "-l",
                    lang,
                    "-d",
                    domain,
                    "--no-obsolete",
                    *env_args,
                ],
                cwd=copy,
                check=True,
                capture_output=True,
                env={
                    "PATH": "/usr/bin:/bin",
                    "WEBCLIENT_DATA_DIR": str(tmp_path / "data"),
                    "SECRET_KEY": "makemessages",
                    "PYTHONPATH": str(copy),
                },
            )
    for po in catalogs():
        fresh = copy / po.relative_to(ROOT)
        found, committed = entries(fresh), entries(po)
        assert not found - committed, (
            f"strings missing from {po.relative_to(ROOT)} (run makemessages and translate):\n"
            + "\n".join(sorted(found - committed))
        )
        assert not committed - found, (
            f"strings in {po.relative_to(ROOT)} the code no longer has (run makemessages):\n"
            + "\n".join(sorted(committed - found))
        )


# -- templates: no user-visible text outside {% translate %} / {% blocktranslate %} ------------

TOKEN = re.compile(
    r"(\{%.*?%\}|\{\{.*?\}\}|\{#.*?#\}|<!--.*?-->|<[^>]*(?:\{[{%].*?[}%]\}[^>]*)*>)", re.S
)
TEXT_ATTRIBUTES = re.compile(r'(?<![\w-])(title|placeholder|aria-label|alt)="([^"]*)"')
# Text that is not language: the product's name, file and command names in instructions.
NOT_WORDS = {
    "webclient",
    "health_alarm_notify.conf",
    "curl",
    "matrix",
    "Windmill",
    "Netdata",
    "@alice:{{ server_name }}",
}


def untranslated(source: str) -> list[str]:
    """Text runs (and text attributes) of a template outside the translation tags."""
    found: list[str] = []
    depth = 0  # inside blocktranslate or a comment
    raw = None  # inside <script> / <style>
    class_block = False
    for index, piece in enumerate(TOKEN.split(source)):
        if not piece:
            continue
        if index % 2 == 1:
            if raw:
                raw = None if piece.lower().startswith(f"</{raw}") else raw
                continue
            if piece.startswith(("{% blocktranslate", "{% comment")):
                depth += 1
            elif piece.startswith(("{% endblocktranslate", "{% endcomment")):
                depth -= 1
            elif re.match(r"\{% block (body_class|html_class) %\}", piece):
                class_block = True
            elif piece.startswith("{% endblock") and class_block:
                class_block = False
            elif piece.startswith("<") and not piece.startswith("<!"):
                tag = re.match(r"<(\w+)", piece)
                if tag and tag.group(1).lower() in {"script", "style"} and "src=" not in piece:
                    raw = tag.group(1).lower()
                for _name, value in TEXT_ATTRIBUTES.findall(piece):
                    words = re.sub(r"\{\{.*?\}\}", "", value)
                    if "{%" in value or value in NOT_WORDS:
                        continue
                    if re.search(r"[A-Za-z]{2,}", words):
                        found.append(value)
            continue
        if raw or depth or class_block:
            continue
        text = re.sub(r"&\w+;", "", piece).strip(" \n·")
        if re.search(r"[A-Za-z]{2,}", text) and text not in NOT_WORDS:
            found.append(text)
    return found


TEMPLATES = sorted((ROOT / "templates").rglob("*.html"))


@pytest.mark.parametrize(
    "template", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT / "templates"))
)
def test_template_text_is_marked_for_translation(template: Path) -> None:
    assert untranslated(template.read_text()) == []


def test_the_check_finds_unmarked_text() -> None:
    assert untranslated("<p>Hello there</p>") == ["Hello there"]
    assert untranslated('<input placeholder="Your name">') == ["Your name"]
    assert untranslated('{% load i18n %}<p>{% translate "Hello" %}</p>') == []
    assert untranslated("<p>{% blocktranslate %}Hi {{ name }}{% endblocktranslate %}</p>") == []
    assert untranslated("<script>var x = 'Not text';</script>") == []


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_template_compiles(template: Path) -> None:
    """Every template parses (translation tags included), each page one, not only the ones
    a test happens to render."""
    from django.template.loader import get_template

    get_template(template.relative_to(ROOT / "templates").as_posix())


# Python: what a person reads is passed through gettext. Plain literals are caught where the
# text is certainly shown: flash messages, the `action` a homeserver error names ("… failed
# while <action>"), a page error, and the errors a typed recovery key or key file gets.
SHOWN_EXCEPTIONS = {
    "PageError",
    "RoomNotFound",
    "NotInRoom",
    "MatrixError",
    "UnknownToken",
    "CommandError",
    "CommandResult",
    "ValidationError",
    "InvalidRecoveryKey",
    "WrongRecoveryKey",
    "WrongPassphrase",
    "WrongBackupKey",
    "NotAnExportFile",
}


def plain_shown_literals(source: str) -> list[str]:
    import ast

    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        shown: list[ast.expr] = []
        owner = func.value if isinstance(func, ast.Attribute) else None
        if isinstance(owner, ast.Name) and owner.id == "messages":
            shown += node.args[1:2]
        if name in SHOWN_EXCEPTIONS:
            shown += node.args
        shown += [k.value for k in node.keywords if k.arg in ("action", "heading")]
        for value in shown:
            if isinstance(value, ast.JoinedStr) or (
                isinstance(value, ast.Constant)
                and isinstance(value.value, str)
                and " " in value.value
            ):
                found.append(f"line {node.lineno}: {ast.unparse(value)[:60]}")
    return found


PYTHON = sorted(p for p in (ROOT / "webclient").rglob("*.py") if "migrations" not in p.parts)


@pytest.mark.parametrize("module", PYTHON, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_python_text_that_is_shown_is_marked_for_translation(module: Path) -> None:
    assert plain_shown_literals(module.read_text()) == []


def test_the_python_check_finds_unmarked_text() -> None:
    assert plain_shown_literals('messages.success(request, "Room avatar removed.")')
    assert plain_shown_literals('api.put_state(r, t, {}, action="Removing the avatar")')
    assert plain_shown_literals('raise InvalidRecoveryKey(f"Not a key: {x}")')
    assert not plain_shown_literals('messages.success(request, _("Room avatar removed."))')
    assert not plain_shown_literals('api.moderate(r, "kick", u, action="/kick")')


def test_typed_key_errors_are_in_the_viewers_language() -> None:
    from django.utils import translation

    from webclient.matrix.crypto import InvalidRecoveryKey
    from webclient.matrix.crypto.recovery import decode_recovery_key

    with translation.override("de"), pytest.raises(InvalidRecoveryKey) as caught:
        decode_recovery_key("EsT0 abcd")
    assert "Wiederherstellungsschlüssel" in str(caught.value)
    assert "0" in str(caught.value)


def eager_translations_at_import(source: str) -> list[int]:
    """Lines where `gettext` (imported as `_`) runs when the module is imported: the text is
    then fixed in the language active at start-up, whoever reads it later."""
    import ast

    if "from django.utils.translation import gettext as _" not in source:
        return []
    found: list[int] = []

    def scan(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            if isinstance(node, ast.ClassDef):
                scan(node.body)
                continue
            for sub in ast.walk(node):
                if isinstance(sub, ast.Call) and getattr(sub.func, "id", "") == "_":
                    found.append(sub.lineno)

    scan(ast.parse(source).body)
    return found


@pytest.mark.parametrize("module", PYTHON, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_text_is_translated_once_at_import(module: Path) -> None:
    assert eager_translations_at_import(module.read_text()) == []


def test_the_import_check_finds_eager_text() -> None:
    eager = 'from django.utils.translation import gettext as _\nTEXT = {"a": _("Hello")}\n'
    assert eager_translations_at_import(eager) == [2]
    in_function = "from django.utils.translation import gettext as _\ndef f():\n    return _('x')\n"
    assert eager_translations_at_import(in_function) == []


def test_homeserver_errors_and_undecryptable_tiles_follow_the_reader() -> None:
    from django.utils import translation

    from webclient.matrix import errors
    from webclient.timeline.viewmodels import UTD_TEXT

    refused = errors.from_response("M_FORBIDDEN", 403)
    assert refused.message == "The homeserver refused this."
    with translation.override("de"):
        german = errors.from_response("M_FORBIDDEN", 403).message
        assert german == "Der Homeserver hat das abgelehnt."
        # An error met with no reader (the sync loop) is worded again for each page.
        assert refused.reworded() != refused.message
        assert "Homeserver" in errors.unreachable("https://hs.example").reworded()
        assert "Schlüssel" in str(UTD_TEXT["waiting"])
