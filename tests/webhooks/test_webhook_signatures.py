"""verify_signature: ``sha256=<hex HMAC-SHA256>`` of the raw body, as the vendor computes it."""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import subprocess

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from visiono_async import _exceptions
from visiono_async.webhooks import InvalidSignatureError, compute_signature, verify_signature

SECRET = "whsec_abc123xyz789"

# Produced by the vendor's JavaScript snippet, run for real with Node.js 20:
#   'sha256=' + crypto.createHmac('sha256', secret).update(payload).digest('hex')
# with ``payload`` both as a JS string and as Buffer.from(payload, 'utf8') (same result).
# The second case has a non-ASCII secret and body, which JS encodes as UTF-8 on both sides.
JS_VECTORS = [
    pytest.param(
        "whsec_abc123xyz789",
        '{"event":"photo_request.created","timestamp":"2024-12-25T12:00:00Z","data":'
        '{"photo_request":{"id":"pr_123","unique_code":"ABC123","status":"pending"}}}',
        "sha256=d7174e8ef175f046c6df9e33e4070bea06ded58b3b7d88dfc90743e9902b73ce",
        id="ascii",
    ),
    pytest.param(
        "whsec_sécret_ключ",
        '{"event":"photo_submission.created","timestamp":"2024-12-25T14:30:00Z","data":'
        '{"photo_request":{"id":"pr_123","metadata":{"note":"Zoë 📷 日本"}},'
        '"submission":{"id":"ps_456"}}}',
        "sha256=ffb599fe2d749ac7d0665bfcaa24588f59eacda4dde33f9db319cf837dfd0fd5",
        id="utf8-secret-and-body",
    ),
]

# The vendor's PHP snippet: 'sha256=' . hash_hmac('sha256', file_get_contents('php://input'),
# $secret). PHP strings are byte strings, so hash_hmac keys with the secret's bytes and hashes
# the body exactly as received, and returns lower-case hex. No PHP interpreter is available
# here, so the value below was computed with the byte-for-byte equivalent,
# hmac.new(secret_bytes, body_bytes, sha256).hexdigest(). The body is what a PHP (Laravel)
# sender's json_encode produces: escaped slashes, \u escapes and a trailing newline; any
# re-serialization of it would change the bytes and break the signature.
PHP_SECRET = b"whsec_laravel_0123456789"
PHP_BODY = (
    b'{"event":"photo_request.submitted","timestamp":"2024-12-25T14:35:00+00:00","data":'
    b'{"photo_request":{"id":"pr_123","unique_code":"ABC123","status":"submitted",'
    b'"request_url":"https:\\/\\/tenant.visio.now\\/ABC123","submissions_count":2,'
    b'"metadata":{"customer":"Zo\\u00eb"},"submitted_at":"2024-12-25T14:35:00+00:00"}}}\n'
)
PHP_SIGNATURE = "sha256=8fb460246f516efa3dd54d9a4dd7bf690897872200f55c67dc9b381db5076ea5"


def python_snippet_signature(secret: str, payload: bytes) -> str:
    """The vendor's Python snippet, verbatim."""
    return "sha256=" + hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()


class TestVendorVectors:
    @pytest.mark.parametrize(("secret", "payload", "signature"), JS_VECTORS)
    def test_javascript_snippet_signatures_verify(
        self, secret: str, payload: str, signature: str
    ) -> None:
        """A signature made by the JavaScript snippet verifies against the UTF-8 body."""
        verify_signature(payload.encode("utf-8"), signature, secret)

    def test_php_snippet_signature_verifies(self) -> None:
        """A signature made as PHP's hash_hmac makes it verifies against the exact bytes."""
        verify_signature(PHP_BODY, PHP_SIGNATURE, PHP_SECRET)
        verify_signature(PHP_BODY, PHP_SIGNATURE, PHP_SECRET.decode())

    def test_a_re_serialized_body_does_not_verify(self) -> None:
        """Verification needs the raw bytes: json.dumps(json.loads(body)) is another body."""
        reserialized = json.dumps(json.loads(PHP_BODY)).encode()
        with pytest.raises(InvalidSignatureError, match="does not match"):
            verify_signature(reserialized, PHP_SIGNATURE, PHP_SECRET)

    @pytest.mark.parametrize(("secret", "payload", "signature"), JS_VECTORS)
    def test_python_snippet_matches_compute_signature(
        self, secret: str, payload: str, signature: str
    ) -> None:
        """The Python snippet, compute_signature and the JS vectors agree."""
        body = payload.encode("utf-8")
        assert signature == python_snippet_signature(secret, body)
        assert signature == compute_signature(body, secret)

    @pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
    @settings(max_examples=20, deadline=None)  # each example starts a node process
    @given(secret=st.text(min_size=1, max_size=40), payload=st.text(max_size=200))
    def test_live_javascript_snippet_agrees(self, secret: str, payload: str) -> None:
        """For arbitrary text, Node's createHmac(...).update(payload) signs what we verify."""
        script = (
            "const c=require('crypto');let s='';process.stdin.on('data',d=>s+=d);"
            "process.stdin.on('end',()=>{const {secret,payload}=JSON.parse(s);"
            "process.stdout.write('sha256='+c.createHmac('sha256',secret)"
            ".update(payload).digest('hex'))})"
        )
        node = shutil.which("node")
        assert node is not None
        result = subprocess.run(
            [node, "-e", script],
            input=json.dumps({"secret": secret, "payload": payload}),
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
        verify_signature(payload.encode("utf-8"), result.stdout, secret)


class TestHeaderForms:
    @pytest.mark.parametrize(
        "transform",
        [
            pytest.param(lambda s: s, id="as-sent"),
            pytest.param(lambda s: s.upper(), id="upper-case"),
            pytest.param(lambda s: "SHA256=" + s[7:], id="upper-case-prefix"),
            pytest.param(lambda s: f"  {s}\t", id="surrounding-whitespace"),
        ],
    )
    def test_letter_case_and_whitespace_are_tolerated(self, transform: object) -> None:
        """The prefix and hex digits may come in any case, with whitespace around."""
        body = b'{"event":"x"}'
        header = transform(compute_signature(body, SECRET))  # type: ignore[operator]
        verify_signature(body, header, SECRET)

    def test_bytes_and_str_secrets_are_equivalent(self) -> None:
        """A str secret is used as its UTF-8 bytes."""
        body = b"{}"
        assert compute_signature(body, "sécret") == compute_signature(body, "sécret".encode())


class TestRejections:
    @pytest.mark.parametrize("header", [None, "", "   "], ids=["absent", "empty", "blank"])
    def test_missing_signature(self, header: str | None) -> None:
        """No signature header is an InvalidSignatureError that says it is missing."""
        with pytest.raises(InvalidSignatureError, match="missing"):
            verify_signature(b"{}", header, SECRET)

    @pytest.mark.parametrize(
        "header",
        [
            "d7174e8ef175f046c6df9e33e4070bea06ded58b3b7d88dfc90743e9902b73ce",
            "sha1=d7174e8ef175f046c6df9e33e4070bea06ded58b",
            "sha256=xyz",
            "sha256=" + "g" * 64,
            "sha256=" + "a" * 63,
            "sha256=" + "a" * 65,
            "t=1,v1=" + "a" * 64,
        ],
        ids=["no-prefix", "sha1", "short", "not-hex", "63-digits", "65-digits", "other-scheme"],
    )
    def test_malformed_signature(self, header: str) -> None:
        """A header that is not sha256= plus 64 hex digits is reported as malformed."""
        with pytest.raises(InvalidSignatureError, match="malformed"):
            verify_signature(b"{}", header, SECRET)

    def test_wrong_secret(self) -> None:
        """A signature made with another secret does not match."""
        body = b'{"event":"x"}'
        with pytest.raises(InvalidSignatureError, match="does not match"):
            verify_signature(body, compute_signature(body, "whsec_other"), SECRET)

    def test_error_is_a_visiono_error_and_never_shows_the_secret(self) -> None:
        """The error is the package's InvalidSignatureError and names no secret or digest."""
        body = b'{"event":"x"}'
        expected = compute_signature(body, SECRET)
        with pytest.raises(_exceptions.InvalidSignatureError) as info:
            verify_signature(body, compute_signature(body, "whsec_other"), SECRET)
        assert isinstance(info.value, _exceptions.VisionoError)
        assert SECRET not in str(info.value)
        assert expected[7:] not in str(info.value)

    def test_a_decoded_body_is_refused(self) -> None:
        """Passing a str instead of the raw bytes is a programming error, not a bad signature."""
        with pytest.raises(TypeError, match="raw bytes"):
            verify_signature("{}", "sha256=" + "a" * 64, SECRET)  # type: ignore[arg-type]

    def test_an_empty_secret_is_refused(self) -> None:
        """An empty secret would make every signature guessable; it is a configuration error."""
        with pytest.raises(ValueError, match="secret is empty"):
            verify_signature(b"{}", "sha256=" + "a" * 64, "")


class TestProperties:
    @given(body=st.binary(max_size=2048), secret=st.text(min_size=1, max_size=64))
    def test_every_computed_signature_verifies(self, body: bytes, secret: str) -> None:
        """compute_signature and verify_signature agree for any body and secret."""
        verify_signature(body, compute_signature(body, secret), secret)

    @given(
        body=st.binary(min_size=1, max_size=512),
        secret=st.binary(min_size=1, max_size=64),
        index=st.integers(min_value=0),
        flip=st.integers(min_value=1, max_value=255),
    )
    def test_any_changed_byte_is_detected(
        self, body: bytes, secret: bytes, index: int, flip: int
    ) -> None:
        """Changing any single byte of the body invalidates the signature."""
        signature = compute_signature(body, secret)
        position = index % len(body)
        tampered = bytearray(body)
        tampered[position] ^= flip
        with pytest.raises(InvalidSignatureError, match="does not match"):
            verify_signature(bytes(tampered), signature, secret)

    @given(
        body=st.binary(max_size=256),
        secret=st.text(min_size=1, max_size=32),
        other=st.text(min_size=1, max_size=32),
    )
    def test_another_secret_never_verifies(self, body: bytes, secret: str, other: str) -> None:
        """A signature only verifies with the secret that made it."""
        assume(secret != other)
        with pytest.raises(InvalidSignatureError):
            verify_signature(body, compute_signature(body, other), secret)
