"""The one middleware: record, inject faults, then (for the API) authenticate, rate limit,
replay idempotent POSTs and turn errors into the API's error shapes."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import anyio
from aiohttp import web

from ._backend import BACKEND, Backend
from ._context import RequestContext, bind, unbind
from ._errors import ApiProblem, FrameworkValidationError
from ._faults import FaultRule
from ._http import dumps, error_body, error_response, framework_response
from ._idempotency import StoredResponse, fingerprint
from ._ids import new_request_id
from ._ratelimit import RateDecision
from ._recording import RecordedRequest
from ._storage import stream_body

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

__all__ = ["API_PREFIXES", "api_path", "emulator_middleware"]

API_PREFIXES = ("/api/v1", "/v1")
_ANONYMOUS = "anonymous"
_S3_CODES = {403: "AccessDenied", 404: "NoSuchKey", 500: "InternalError", 503: "SlowDown"}
_log = logging.getLogger("visiono_async.testing")


def api_path(path: str) -> str | None:
    """The path after the API prefix, or ``None`` for a non-API path."""
    for prefix in API_PREFIXES:
        if path == prefix or path.startswith(prefix + "/"):
            return path[len(prefix) :] or "/"
    return None


@web.middleware
async def emulator_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Record the request, apply faults, run the API pipeline or the plain handler."""
    backend = request.app[BACKEND]
    sub_path = api_path(request.path)
    record = RecordedRequest(
        method=request.method,
        path=sub_path if sub_path is not None else request.path,
        query=dict(request.query),
        time=backend.clock.now(),
        range=request.headers.get("Range"),
        api=sub_path is not None,
    )
    backend.requests.append(record)
    ctx = RequestContext(record, new_request_id())
    if sub_path is not None:
        record.request_id = ctx.request_id
    token = bind(ctx)
    try:
        response = await _with_faults(request, handler, backend, ctx, sub_path)
    except web.HTTPException as exc:
        ctx.set_status(exc.status)
        raise
    finally:
        unbind(token)
    if not response.prepared and record.status is None and record.fault != "reset":
        ctx.set_status(response.status)
    return response


async def _with_faults(
    request: web.Request,
    handler: Handler,
    backend: Backend,
    ctx: RequestContext,
    sub_path: str | None,
) -> web.StreamResponse:
    plan = backend.faults.take(request.method, request.path)
    ctx.record.fault = plan.kind
    if plan.delay:
        await anyio.sleep(plan.delay)
    rule = plan.rule
    if rule is not None and rule.kind == "reset":
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=500)
    if rule is not None and rule.kind == "fail" and not rule.after_action:
        return _fault_response(request, rule, backend, ctx, sub_path)
    if rule is not None and rule.kind == "cut_body":
        ctx.cut_after = rule.after_bytes
    if sub_path is None:
        response = await handler(request)
    else:
        response = await _api(request, handler, backend, ctx, sub_path)
    if rule is not None and rule.kind == "fail":
        return _fault_response(request, rule, backend, ctx, sub_path)
    if ctx.cut_after is not None and not response.prepared:
        return await _cut(request, response)
    return response


def _fault_response(
    request: web.Request,
    rule: FaultRule,
    backend: Backend,
    ctx: RequestContext,
    sub_path: str | None,
) -> web.Response:
    headers = dict(rule.headers)
    content_type = rule.content_type
    for name in list(headers):
        if name.lower() == "content-type":
            content_type = headers.pop(name)
    body: bytes
    if rule.body is None and sub_path is not None:
        body = dumps(error_body(ApiProblem(rule.status), ctx.request_id))
        content_type = content_type or "application/json"
        defaults = {"X-Request-Id": ctx.request_id}
        auth = backend.store.authenticate(request.headers.get("X-API-Key"))
        defaults.update(backend.rate_limiter.peek(auth[0] if auth else _ANONYMOUS).headers())
        if rule.status == 429:
            defaults["Retry-After"] = "1"
        headers = {**defaults, **headers}
    elif rule.body is None:
        code = _S3_CODES.get(rule.status, f"Error{rule.status}")
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>Injected fault</Message></Error>"
        ).encode()
        content_type = content_type or "application/xml"
    elif isinstance(rule.body, (dict, list)):
        body = dumps(rule.body)
        content_type = content_type or "application/json"
    elif isinstance(rule.body, str):
        body = rule.body.encode()
        content_type = content_type or "text/plain"
    else:
        body = rule.body
        content_type = content_type or "application/octet-stream"
    response = web.Response(body=body, status=rule.status, headers=headers)
    response.content_type = content_type.split(";")[0].strip()
    return response


async def _cut(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    body = response.body if isinstance(response, web.Response) else None
    payload = body if isinstance(body, bytes) else b""
    stream = web.StreamResponse(status=response.status, reason=response.reason)
    for name, value in response.headers.items():
        if name.lower() not in ("content-length", "transfer-encoding"):
            stream.headers.add(name, value)
    stream.content_length = len(payload)
    return await stream_body(request, stream, payload)


async def _api(
    request: web.Request,
    handler: Handler,
    backend: Backend,
    ctx: RequestContext,
    sub_path: str,
) -> web.StreamResponse:
    rate: RateDecision | None = None
    response: web.StreamResponse
    try:
        header_key = request.headers.get("X-API-Key")
        auth = backend.store.authenticate(header_key)
        if auth is None:  # every call needs a key, /status too (as Visiono documents)
            raise ApiProblem(
                401,
                "unauthenticated",
                "Unauthenticated. Send a valid, unrevoked API key in the X-API-Key header.",
            )
        if auth is not None:
            ctx.key_id, ctx.key = auth
            rate = backend.rate_limiter.hit(ctx.key_id)
            if not rate.allowed:
                raise ApiProblem(
                    429,
                    "rate_limited",
                    f"Rate limit exceeded. Retry after {rate.retry_after} seconds.",
                    details={"retry_after": [str(rate.retry_after)]},
                )
        backend.store.expire_due()
        idempotency_key = request.headers.get("Idempotency-Key")
        if (
            request.method == "POST"
            and idempotency_key
            and ctx.key_id is not None
            and backend.honor_idempotency_keys
        ):
            response = await _idempotent(request, handler, backend, ctx, sub_path, idempotency_key)
        else:
            response = await _call(request, handler, ctx)
    except ApiProblem as problem:
        response = error_response(problem, ctx.request_id)
    response.headers["X-Request-Id"] = ctx.request_id
    if rate is None:
        rate = backend.rate_limiter.peek(ctx.key_id or _ANONYMOUS)
    response.headers.update(rate.headers())
    return response


async def _call(request: web.Request, handler: Handler, ctx: RequestContext) -> web.StreamResponse:
    """Run the handler, answering every failure in the API's error shapes."""
    try:
        return await handler(request)
    except ApiProblem as problem:
        return error_response(problem, ctx.request_id)
    except FrameworkValidationError as error:
        return framework_response(error)
    except web.HTTPNotFound:
        missing = ApiProblem(404, "not_found", f"No API route matches {request.path}.")
        return error_response(missing, ctx.request_id)
    except web.HTTPMethodNotAllowed as exc:
        allowed = ", ".join(sorted(exc.allowed_methods))
        wrong = ApiProblem(405, message=f"{request.method} is not allowed here; use {allowed}.")
        return error_response(wrong, ctx.request_id)
    except web.HTTPException as exc:
        return error_response(ApiProblem(exc.status, message=exc.reason), ctx.request_id)
    except Exception:
        _log.exception("Visiono emulator bug while handling %s %s", request.method, request.path)
        return error_response(ApiProblem(500), ctx.request_id)


async def _idempotent(
    request: web.Request,
    handler: Handler,
    backend: Backend,
    ctx: RequestContext,
    sub_path: str,
    idempotency_key: str,
) -> web.StreamResponse:
    assert ctx.key_id is not None
    slot = (ctx.key_id, idempotency_key)
    print_ = fingerprint(request.method, sub_path, await request.read())
    stored = backend.idempotency.lookup(slot, print_)
    if stored is not None:
        replay = web.Response(body=stored.body, status=stored.status)
        replay.content_type = stored.content_type
        replay.headers["Idempotent-Replayed"] = "true"
        return replay
    keep: StoredResponse | None = None
    try:
        response = await _call(request, handler, ctx)
        body = response.body if isinstance(response, web.Response) else None
        if isinstance(body, bytes) and response.status < 500 and response.status not in (409, 429):
            keep = StoredResponse(
                print_, response.status, body, response.content_type, backend.clock.now()
            )
    finally:
        backend.idempotency.release(slot, keep)
    return response
