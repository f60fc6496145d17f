"""Workflow Mode: signed links into a smart link and the signed redirect back."""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit, urlunsplit

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.testing.helpers import Receiver
from visiono_async.testing import sample_jpeg
from visiono_async.webhooks import (
    InvalidPayloadError,
    InvalidSignatureError,
    SubmissionCreated,
    WorkflowLink,
    WorkflowRedirect,
    construct_event,
    verify_workflow_link,
    verify_workflow_redirect,
    workflow_link,
)

SECRET = "wfsec_test_secret"


def hex_hmac(message: str, secret: str = SECRET) -> str:
    """The signature exactly as API.md defines it."""
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def redirect_params(
    *,
    sub: str = "pls_1",
    uv: str = "AB-123",
    ref: str = "T-9",
    cnt: str = "3",
    ts: int | None = None,
) -> dict[str, str]:
    stamp = str(int(time.time()) if ts is None else ts)
    sig = hex_hmac(f"{sub}|{uv}|{ref}|{cnt}|{stamp}")
    return {"sub": sub, "uv": uv, "ref": ref, "cnt": cnt, "ts": stamp, "sig": sig}


class TestWorkflowLink:
    def test_link_shape_and_signature(self) -> None:
        """The link is {base}/s/{slug}?uv&src&ref&ts&sig, signed over 'uv|src|ref|ts'."""
        link = workflow_link(
            "fleet-inspection", "AB-123", "crm", "T-9", SECRET, timestamp=1700000000
        )
        parts = urlsplit(link)
        assert ("https", "visiono.io", "/s/fleet-inspection") == (
            parts.scheme,
            parts.netloc,
            parts.path,
        )
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        assert ["uv", "src", "ref", "ts", "sig"] == list(query)
        assert {"uv": "AB-123", "src": "crm", "ref": "T-9", "ts": "1700000000"} == {
            k: query[k] for k in ("uv", "src", "ref", "ts")
        }
        assert hex_hmac("AB-123|crm|T-9|1700000000") == query["sig"]

    def test_values_are_url_encoded_but_signed_raw(self) -> None:
        """Spaces, '&' and non-ASCII are escaped in the URL; the signature covers raw text."""
        link = workflow_link("s", "Zoë & co", "e-mail", "a/b?c", SECRET, timestamp=1700000000)
        assert " " not in link
        query = {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}
        assert "Zoë & co" == query["uv"]
        assert hex_hmac("Zoë & co|e-mail|a/b?c|1700000000") == query["sig"]

    def test_timestamp_defaults_to_now_and_accepts_datetimes(self) -> None:
        """ts is unix seconds: now by default, or from an aware datetime."""
        before = int(time.time())
        query = parse_qs(urlsplit(workflow_link("s", "u", "src", "r", SECRET)).query)
        assert before <= int(query["ts"][0]) <= int(time.time())
        when = datetime(2024, 1, 1, tzinfo=timezone.utc)
        query = parse_qs(urlsplit(workflow_link("s", "u", "src", "r", SECRET, when)).query)
        assert str(int(when.timestamp())) == query["ts"][0]

    def test_custom_base(self) -> None:
        """The origin can point at another host (an emulator), with or without a slash."""
        link = workflow_link("s", "u", "c", "r", SECRET, 1, base="http://127.0.0.1:8000/")
        assert link.startswith("http://127.0.0.1:8000/s/s?uv=u&")

    def test_a_pipe_in_a_value_is_refused(self) -> None:
        """'|' joins the signed fields, so a value containing it would be ambiguous."""
        with pytest.raises(ValueError, match="'uv' must not contain"):
            workflow_link("s", "a|b", "c", "r", SECRET)

    @given(
        uv=st.text(max_size=30).filter(lambda s: "|" not in s),
        src=st.text(max_size=30).filter(lambda s: "|" not in s),
        ref=st.text(max_size=30).filter(lambda s: "|" not in s),
    )
    def test_every_built_link_verifies(self, uv: str, src: str, ref: str) -> None:
        """Any link workflow_link builds passes verify_workflow_link with the same values."""
        result = verify_workflow_link(workflow_link("slug", uv, src, ref, SECRET), SECRET)
        assert (uv, src, ref) == (result.unique_value, result.source, result.reference)
        assert isinstance(result, WorkflowLink)


class TestVerifyWorkflowRedirect:
    def test_a_valid_redirect(self) -> None:
        """A correctly signed redirect yields the typed result."""
        params = redirect_params(ts=int(time.time()))
        result = verify_workflow_redirect(params, SECRET)
        assert (
            WorkflowRedirect(
                submission_id="pls_1",
                unique_value="AB-123",
                reference="T-9",
                photo_count=3,
                timestamp=datetime.fromtimestamp(int(params["ts"]), tz=timezone.utc),
            )
            == result
        )

    def test_the_redirect_url_itself_is_accepted(self) -> None:
        """The full redirect URL, or its query string, can be passed instead of a mapping."""
        query = urlencode(redirect_params())
        assert (
            3 == verify_workflow_redirect(f"https://shop.example/done?{query}", SECRET).photo_count
        )
        assert "pls_1" == verify_workflow_redirect(query, SECRET).submission_id

    @pytest.mark.parametrize(
        "field", ["sub", "uv", "ref", "cnt", "ts"], ids=lambda f: f"tampered-{f}"
    )
    def test_any_tampered_field_is_rejected(self, field: str) -> None:
        """Changing any signed field invalidates the signature."""
        params = redirect_params()
        params[field] = params[field] + "1"
        with pytest.raises(InvalidSignatureError, match="does not match"):
            verify_workflow_redirect(params, SECRET)

    def test_a_wrong_secret_is_rejected(self) -> None:
        """A redirect signed with another secret does not verify."""
        with pytest.raises(InvalidSignatureError, match="does not match"):
            verify_workflow_redirect(redirect_params(), "wfsec_other")

    def test_the_redirect_has_no_age_limit_unless_asked(self) -> None:
        """Visiono documents no age rule for the redirect back: by default an old one with
        a good signature is accepted; ``max_age`` adds a limit of your own."""
        params = redirect_params(ts=int(time.time()) - 3700)
        assert "pls_1" == verify_workflow_redirect(params, SECRET).submission_id
        with pytest.raises(InvalidSignatureError, match="stale"):
            verify_workflow_redirect(params, SECRET, max_age=3600)
        assert "pls_1" == verify_workflow_redirect(params, SECRET, max_age=7200).submission_id

    @pytest.mark.parametrize("sig", [None, ""], ids=["absent", "empty"])
    def test_a_missing_signature_is_rejected(self, sig: str | None) -> None:
        """No sig parameter is an InvalidSignatureError."""
        params = redirect_params()
        if sig is None:
            del params["sig"]
        else:
            params["sig"] = sig
        with pytest.raises(InvalidSignatureError, match="missing"):
            verify_workflow_redirect(params, SECRET)

    def test_a_malformed_signature_is_rejected(self) -> None:
        """A sig that is not 64 hex digits is malformed."""
        params = {**redirect_params(), "sig": "zz"}
        with pytest.raises(InvalidSignatureError, match="malformed"):
            verify_workflow_redirect(params, SECRET)

    def test_upper_case_hex_is_accepted(self) -> None:
        """Hex digits are compared case-insensitively."""
        params = redirect_params()
        params["sig"] = params["sig"].upper()
        assert "pls_1" == verify_workflow_redirect(params, SECRET).submission_id

    def test_a_missing_field_is_a_payload_error(self) -> None:
        """A signed parameter that is absent is named in an InvalidPayloadError."""
        params = redirect_params()
        del params["cnt"]
        with pytest.raises(InvalidPayloadError, match="'cnt' is missing"):
            verify_workflow_redirect(params, SECRET)

    def test_a_non_numeric_count_is_a_payload_error(self) -> None:
        """cnt must be a whole number even when correctly signed."""
        with pytest.raises(InvalidPayloadError, match="'cnt'"):
            verify_workflow_redirect(redirect_params(cnt="three"), SECRET)

    def test_repeated_parameters_are_refused(self) -> None:
        """A query string with a parameter twice is ambiguous and refused."""
        query = urlencode(redirect_params()) + "&uv=other"
        with pytest.raises(InvalidPayloadError, match="'uv' appears more than once"):
            verify_workflow_redirect(query, SECRET)

    def test_errors_never_show_the_secret_or_expected_signature(self) -> None:
        """Messages say what was wrong, not what would have been right."""
        params = {**redirect_params(), "cnt": "4"}
        expected = hex_hmac("pls_1|AB-123|T-9|4|" + params["ts"])
        with pytest.raises(InvalidSignatureError) as info:
            verify_workflow_redirect(params, SECRET)
        assert SECRET not in str(info.value)
        assert expected not in str(info.value)


class TestOnTheEmulator:
    """The whole flow on the emulator: signed entry link, upload, signed redirect back and
    the documented ``submission.created`` webhook, checked with the SDK's helpers."""

    async def test_link_upload_redirect_and_webhook(self, client: Any, emulator: Any) -> None:
        """A valid link opens; the upload redirects back signed; the webhook parses."""
        sl = await client.smart_links.create(instructions="Damage", custom_slug="damage-report")
        secret = emulator.enable_workflow_mode(sl.id, redirect_url="https://crm.example.com/back")
        async with Receiver() as receiver, aiohttp.ClientSession() as http:
            endpoint = await client.webhooks.create(url=receiver.url, events=["submission.created"])
            link = workflow_link(
                "damage-report", "ABC123", "zendesk", "ticket-456", secret, base=emulator.root_url
            )
            async with http.get(link) as opened:
                assert 200 == opened.status
            photo = sample_jpeg(3_000, seed=4)
            async with http.post(link, data=photo, allow_redirects=False) as sent:
                assert 303 == sent.status
                location = sent.headers["Location"]
            await emulator.wait_for_deliveries(1)

        assert location.startswith("https://crm.example.com/back?")
        back = verify_workflow_redirect(location, secret)
        assert ("ABC123", "ticket-456", 1) == (back.unique_value, back.reference, back.photo_count)
        headers, body = receiver.received[0]
        event = construct_event(body, headers, endpoint.secret)
        assert isinstance(event, SubmissionCreated)
        assert event.permanent_link_submission is not None
        assert (back.submission_id, "ABC123", "zendesk", "ticket-456") == (
            event.permanent_link_submission.id,
            event.permanent_link_submission.unique_field_value,
            event.permanent_link_submission.external_source,
            event.permanent_link_submission.external_reference,
        )
        assert (sl.id, None) == (event.smart_link_id, event.timestamp)
        [uploaded] = await client.smart_links.submissions(sl.id)
        assert back.submission_id == uploaded.id

    @pytest.mark.parametrize(
        ("change", "code"),
        [
            pytest.param(lambda q: q.pop("uv"), "missing_parameters", id="missing"),
            pytest.param(lambda q: q.update(sig="0" * 64), "invalid_signature", id="forged"),
            pytest.param(None, "expired", id="expired"),
        ],
    )
    async def test_a_bad_link_is_an_error_page(
        self, client: Any, emulator: Any, change: Any, code: str
    ) -> None:
        """Missing parameters, a wrong signature, a link over an hour old: 400 each, and
        nothing is uploaded through it."""
        sl = await client.smart_links.create(instructions="Damage", custom_slug="dmg")
        secret = emulator.enable_workflow_mode(sl.id, redirect_url="https://crm.example.com/")
        signed_at = time.time() - (7200 if change is None else 0)
        link = workflow_link(
            "dmg", "ABC", "crm", "r1", secret, timestamp=signed_at, base=emulator.root_url
        )
        parts = urlsplit(link)
        query = dict(parse_qsl(parts.query))
        if change is not None:
            change(query)
        broken = urlunsplit(parts._replace(query=urlencode(query)))
        async with aiohttp.ClientSession() as http:
            async with http.get(broken) as opened:
                status, answer = opened.status, await opened.json()
            async with http.post(broken, data=b"\xff\xd8\xff", allow_redirects=False) as sent:
                posted = sent.status
        assert (400, code, 400) == (status, answer["error"]["code"], posted)
        assert [] == await client.smart_links.submissions(sl.id)

    async def test_a_link_not_in_workflow_mode_is_the_plain_page(
        self, client: Any, emulator: Any
    ) -> None:
        """Without Workflow Mode the parameters mean nothing: the ordinary page, and no
        upload through a signed entry."""
        await client.smart_links.create(instructions="Plain", custom_slug="plain")
        link = workflow_link("plain", "A", "b", "c", "some-secret", base=emulator.root_url)
        async with aiohttp.ClientSession() as http:
            async with http.get(link) as opened:
                assert (200, "text/html") == (opened.status, opened.content_type)
            async with http.post(link, data=b"\xff\xd8\xff", allow_redirects=False) as sent:
                assert 404 == sent.status
