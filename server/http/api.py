"""The route table and the OpenAPI document, built from one list so they cannot drift."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from server.http.auth import ROUTE_KINDS
from server.http.openapi_schema import RequestJsonSchema, query_parameter_schema
from server.http.parsing import ID_PATTERN, MAX_ID
from server.services.context import PrincipalKind

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fields": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        }
    },
}
# A path id: what the route table matches (ASCII digits) and what an id can be (1 to MAX_ID);
# anything else is 404.
PATH_ID_SCHEMA = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
STATUS_TEXT = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No content",
    206: "Part of the content (a Range request)",
    303: "Redirect",
    304: "Not modified (If-None-Match)",
    400: "Malformed request",
    401: "Not signed in",
    402: "Cannot pay (declined, or not enough money)",
    403: "Not allowed",
    404: "Not found (also: exists but is not yours)",
    409: "Conflict with the current state",
    413: "Body too large",
    415: "Wrong content type",
    416: "Range not satisfiable",
    422: "Invalid fields",
    429: "Too many attempts; see Retry-After",
    502: "An upstream service (the payment processor) did not answer; retry with the same key",
    503: "Not ready (the database or the photo store does not answer, or too busy)",
}


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    # Who may call: "family", "resident", "staff" or several ("family|resident"), "any" kind,
    # or None (public). The document states it and the handler's `route_actor` checks it.
    auth: str | None = None
    ok: int = 200
    # Other success statuses, e.g. 200 when a retry finds what the first request created (201).
    also_ok: tuple[int, ...] = ()
    errors: tuple[int, ...] = ()
    produces: str = "application/json"
    # Other content types of the success answer (chosen by a `format` query parameter).
    also_produces: tuple[str, ...] = ()
    # Content types of the error answers: JSON (the Error schema), or also a page for people.
    error_produces: tuple[str, ...] = ("application/json",)
    # A multipart/form-data body instead of JSON: its schema (the handler reads it streaming).
    form: dict[str, Any] | None = None
    # A GET that also answers HEAD (the same headers, no body).
    head: bool = False

    def __post_init__(self) -> None:
        _ = self.kinds  # an unknown kind fails when the route table is built

    @property
    def kinds(self) -> tuple[PrincipalKind, ...] | None:
        """The kinds of account `auth` lets in (empty: any kind), or None for a public route."""
        if self.auth is None:
            return None
        if self.auth == "any":
            return ()
        return tuple(PrincipalKind(kind) for kind in self.auth.split("|"))


@dataclass
class Api:
    endpoints: list[Endpoint] = field(default_factory=list)

    def add(self, endpoint: Endpoint) -> None:
        self.endpoints.append(endpoint)

    def mount(self, router: web.UrlDispatcher) -> None:
        """Every path parameter is an id: the route matches ASCII digits only, so another
        segment ("export", "²") is not taken for one, and the Allow header of a fixed path
        next to `{id}` (/messages/export beside /messages/{id}) lists only its own methods."""
        for e in self.endpoints:
            path = e.path
            for name in _path_params(e.path):
                path = path.replace(f"{{{name}}}", f"{{{name}:{ID_PATTERN}}}")
            router.add_route(e.method, path, _declaring(e))
            if e.head:
                router.add_route("HEAD", path, _declaring(e))

    def openapi(self, *, server_url: str) -> dict[str, Any]:
        paths: dict[str, dict[str, Any]] = {}
        # All bodies at once: pydantic then names two models of the same name apart (there
        # are two RejectBody, with different rules).
        bodies = list(dict.fromkeys(e.body for e in self.endpoints if e.body is not None))
        refs, defs = models_json_schema(
            [(model, "validation") for model in bodies],
            ref_template="#/components/schemas/{model}",
            schema_generator=RequestJsonSchema,
        )
        schemas: dict[str, Any] = {"Error": ERROR_SCHEMA, **defs.get("$defs", {})}
        for e in self.endpoints:
            op: dict[str, Any] = {
                "summary": e.summary,
                "tags": [e.tag],
                "operationId": f"{e.method.lower()}_{e.path.strip('/').replace('/', '_')}".replace(
                    "{", ""
                )
                .replace("}", "")
                .replace("-", "_")
                .replace(".", "_"),
                "responses": self._responses(e),
            }
            params = [
                {"name": n, "in": "path", "required": True, "schema": PATH_ID_SCHEMA}
                for n in _path_params(e.path)
            ]
            if e.query is not None:
                q = e.query.model_json_schema(schema_generator=RequestJsonSchema)
                required = set(q.get("required", []))
                params += [
                    {
                        "name": n,
                        "in": "query",
                        "required": n in required,
                        "schema": query_parameter_schema(s),
                    }
                    for n, s in q.get("properties", {}).items()
                ]
            if params:
                op["parameters"] = params
            if e.body is not None:
                op["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": refs[(e.body, "validation")]}},
                }
            if e.form is not None:
                op["requestBody"] = {
                    "required": True,
                    "content": {"multipart/form-data": {"schema": e.form}},
                }
            if e.auth is not None:
                op["security"] = [{"session": []}, {"bearer": []}]
                op["x-homeline-principal"] = e.auth
            paths.setdefault(e.path, {})[e.method.lower()] = op
        return {
            "openapi": "3.1.0",
            "info": {"title": "Homeline API", "version": "1"},
            "servers": [{"url": server_url}],
            "paths": paths,
            "components": {
                "schemas": schemas,
                "securitySchemes": {
                    "session": {"type": "apiKey", "in": "cookie", "name": "homeline_session"},
                    "bearer": {"type": "http", "scheme": "bearer"},
                },
            },
        }

    def _responses(self, e: Endpoint) -> dict[str, Any]:
        ok_content: dict[str, Any] = {
            "content": {kind: {"schema": {}} for kind in (e.produces, *e.also_produces)}
        }
        out: dict[str, Any] = {
            str(code): {
                "description": STATUS_TEXT[code],
                **({} if code in (204, 303, 304) else ok_content),
            }
            for code in (e.ok, *e.also_ok)
        }
        codes = set(e.errors)
        if e.body is not None or e.form is not None:
            codes |= {400, 413, 415, 422}
        if e.query is not None:
            codes.add(422)
        if e.auth is not None:
            codes.add(401)
        if _path_params(e.path):
            codes.add(404)
        error = {"$ref": "#/components/schemas/Error"}
        error_content = {
            kind: {"schema": error if kind == "application/json" else {}}
            for kind in e.error_produces
        }
        for code in sorted(codes):
            out[str(code)] = {"description": STATUS_TEXT[code], "content": error_content}
        return out


def _declaring(e: Endpoint) -> Handler:
    """The endpoint's handler, with the kinds of account it declares on the request."""
    kinds = e.kinds
    if kinds is None:
        return e.handler

    async def handler(request: web.Request) -> web.StreamResponse:
        request[ROUTE_KINDS] = kinds
        return await e.handler(request)

    return handler


def _path_params(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]
