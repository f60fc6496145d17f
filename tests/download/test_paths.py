"""Naming: whatever the ids and names, paths are relative, safe and inside dest."""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from visiono_async.download import (
    DEFAULT_TEMPLATE,
    TEMPLATE_FIELDS,
    render_path,
    sanitize_component,
    validate_template,
)
from visiono_async.download._paths import (
    MAX_COMPONENT_BYTES,
    extension_for,
    is_inside,
    template_fields,
)

hostile_text = st.one_of(
    st.text(),
    st.lists(st.sampled_from(["..", ".", "/", "\\", "\x00", ":", "~", "a", " "])).map("".join),
    st.sampled_from(["..", "../..", "/etc/passwd", "C:\\Windows", "CON", "nul.txt", "", "."]),
    st.text(min_size=250, max_size=400),
)


def _assert_safe_component(part: str) -> None:
    assert part not in {"", ".", ".."}
    assert not part.startswith(".")
    assert "/" not in part
    assert "\\" not in part
    assert "\x00" not in part
    assert not any(unicodedata.category(ch) == "Cc" for ch in part)
    assert len(part.encode("utf-8")) <= MAX_COMPONENT_BYTES
    assert part == unicodedata.normalize("NFC", part)


class TestSanitizeComponent:
    @given(hostile_text)
    def test_any_text_becomes_one_safe_component(self, value: str) -> None:
        """Separators, dots, control characters and length are neutralised."""
        _assert_safe_component(sanitize_component(value))

    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("pri_abc_ps_def.jpg", "pri_abc_ps_def.jpg"),
            ("..", "_"),
            ("../x", "_._x"),
            (".hidden", "_hidden"),
            ("a/b\\c", "a_b_c"),
            ("nul\x00byte", "nul_byte"),
            ("CON", "_CON"),
            ("lpt1.txt", "_lpt1.txt"),
            ("trailing. ", "trailing"),
            ("e\u0301", "\u00e9"),
        ],
        ids=[
            "plain",
            "dotdot",
            "traversal",
            "hidden",
            "separators",
            "nul",
            "con",
            "lpt1",
            "trailing-dot",
            "nfc",
        ],
    )
    def test_examples(self, raw: str, expected: str) -> None:
        """Known hostile inputs and what they become."""
        assert expected == sanitize_component(raw)

    def test_long_names_keep_their_extension_and_stay_distinct(self) -> None:
        """Truncation keeps the extension and a hash of the original."""
        a = sanitize_component("x" * 300 + "a.jpg")
        b = sanitize_component("x" * 300 + "b.jpg")
        assert a != b
        assert a.endswith(".jpg")
        assert len(a.encode()) <= MAX_COMPONENT_BYTES

    def test_multibyte_truncation_keeps_valid_utf8(self) -> None:
        """Byte limits never split a character."""
        name = sanitize_component("é" * 300)
        assert len(name.encode("utf-8")) <= MAX_COMPONENT_BYTES
        name.encode("utf-8").decode("utf-8")


class TestRenderPath:
    @given(
        st.dictionaries(
            st.sampled_from(["photo_request_id", "item_id", "submission_id", "ext"]), hostile_text
        )
    )
    def test_default_template_is_always_relative_and_safe(self, fields: dict[str, str]) -> None:
        """No field value can add a component, climb out or go absolute."""
        rel = render_path(DEFAULT_TEMPLATE, fields)
        assert not os.path.isabs(rel)
        parts = rel.split("/")
        assert len(parts) <= 2
        for part in parts:
            _assert_safe_component(part)

    @settings(max_examples=50)
    @given(template=st.text(alphabet="{}/._ab.\\", max_size=30), value=hostile_text)
    def test_hostile_templates_stay_inside_dest(
        self, tmp_path_factory: pytest.TempPathFactory, template: str, value: str
    ) -> None:
        """Even a hostile template renders inside dest (or is rejected as a bad template)."""
        dest = tmp_path_factory.getbasetemp() / "dest"
        try:
            rel = render_path(template, {"a": value})
        except ValueError:
            return
        for part in rel.split("/"):
            _assert_safe_component(part)
        assert is_inside(str(dest), os.path.join(dest, rel))

    def test_default_layout(self) -> None:
        """One folder per photo request, item and submission ids in the name."""
        fields = {
            "photo_request_id": "pr_1",
            "item_id": "pri_2",
            "submission_id": "ps_3",
            "ext": ".jpg",
        }
        assert "pr_1/pri_2_ps_3.jpg" == render_path(DEFAULT_TEMPLATE, fields)

    def test_missing_fields_render_empty(self) -> None:
        """A field the source did not provide does not fail the run."""
        assert "_x.jpg" == render_path("{nope}_x{ext}", {"ext": ".jpg"})

    @pytest.mark.parametrize("template", ["{a.b}", "{a[0]}", "{}", "{a", "a}", "{0}"])
    def test_templates_with_more_than_field_names_are_refused(self, template: str) -> None:
        """Only plain field names: no attribute or index access, no positional fields."""
        with pytest.raises(ValueError, match="invalid naming template"):
            render_path(template, {"a": "x"})

    def test_bogus_extension_is_dropped(self) -> None:
        """``ext`` must look like an extension."""
        assert "a" == render_path("a{ext}", {"ext": "/../../etc"})


class TestTemplateFields:
    def test_each_call_returns_a_set_of_its_own(self) -> None:
        """Changing the returned set does not change what the next call (or a render) sees."""
        first = template_fields(DEFAULT_TEMPLATE)
        first.add("surprise")

        assert {"photo_request_id", "item_id", "submission_id", "ext"} == template_fields(
            DEFAULT_TEMPLATE
        )
        assert "pr_1/pri_2_ps_3.jpg" == render_path(
            DEFAULT_TEMPLATE,
            {
                "photo_request_id": "pr_1",
                "item_id": "pri_2",
                "submission_id": "ps_3",
                "ext": ".jpg",
            },
        )

    @pytest.mark.parametrize("template", ["{a.b}", "{0}", "{", "{a[0]}"])
    def test_a_bad_template_fails_every_time(self, template: str) -> None:
        """Rejections are not remembered as successes."""
        for _ in range(2):
            with pytest.raises(ValueError, match="invalid naming template"):
                template_fields(template)


class TestIsInside:
    def test_symlink_out_of_dest_is_outside(self, tmp_path: Path) -> None:
        """A symlinked folder that leads out of dest does not count as inside."""
        dest = tmp_path / "dest"
        dest.mkdir()
        (dest / "link").symlink_to(tmp_path)
        assert not is_inside(str(dest), str(dest / "link" / "x"))
        assert is_inside(str(dest), str(dest / "sub" / "x"))


class TestExtension:
    @pytest.mark.parametrize(
        ("mime", "url", "expected"),
        [
            ("image/jpeg", None, ".jpg"),
            ("image/png; charset=binary", None, ".png"),
            (None, "https://cdn.example/a/b.JPEG?sig=1", ".jpg"),
            (None, "https://cdn.example/a/b.webp#x", ".webp"),
            ("application/x-unknown", "https://cdn.example/a/b", ""),
        ],
    )
    def test_extension_for(self, mime: str | None, url: str | None, expected: str) -> None:
        """From the MIME type first, then the URL's path."""
        assert expected == extension_for(mime, url)


class TestValidateTemplate:
    def test_the_default_and_every_documented_field_pass(self) -> None:
        """Every field archive() fills for Visiono photos is accepted."""
        validate_template(DEFAULT_TEMPLATE)
        validate_template("/".join("{" + name + "}" for name in TEMPLATE_FIELDS))

    def test_unknown_fields_are_named_with_the_valid_ones(self) -> None:
        """The message names what is wrong and what would be right."""
        with pytest.raises(
            ValueError, match=r"unknown naming template fields \{b\}, \{c\}"
        ) as info:
            validate_template("{a}/{c}{b}", fields=("a",))
        assert str(info.value).endswith("valid fields: {a}")

    def test_a_malformed_template_is_refused_too(self) -> None:
        """Unbalanced braces fail as before, through the same function."""
        with pytest.raises(ValueError, match="invalid naming template"):
            validate_template("{photo_request_id")
