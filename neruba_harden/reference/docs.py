"""The reference receiver's operator surfaces: an OpenAPI 3.1 document and its doc pages.

They exist so that the exposure checks have something real to find (`/docs`, `/redoc`,
`/openapi.json`) and to prove that `docs = "gated"` or `"disabled"` hides them.
"""

from __future__ import annotations

from typing import Any

from neruba_harden import __version__

_OUTCOME_NAMES = ["accepted", "duplicate", "replay", "rejected", "conflict", "in_flight", "failed"]


def openapi_document(
    webhook_path: str, readback_path: str | None, scheme: str, *, with_outcome: bool = True
) -> dict[str, Any]:
    """A minimal but valid OpenAPI 3.1 description of the webhook and read-back routes."""
    outcome_props: dict[str, Any] = {
        "event_id": {"type": "string"},
        "request_id": {"type": "string"},
        "detail": {"type": "string"},
    }
    if with_outcome:
        outcome_props["outcome"] = {"type": "string", "enum": _OUTCOME_NAMES}

    def answer(description: str, media: str = "application/json") -> dict[str, Any]:
        return {
            "description": description,
            "content": {media: {"schema": {"$ref": "#/components/schemas/Outcome"}}},
        }

    signature_headers = (
        ["Stripe-Signature"]
        if scheme == "stripe"
        else ["webhook-id", "webhook-timestamp", "webhook-signature"]
    )
    paths: dict[str, Any] = {
        webhook_path: {
            "post": {
                "operationId": "receiveWebhook",
                "summary": "Receive one signed webhook delivery",
                "description": (
                    f"Signed with the `{scheme}` scheme over the raw request bytes "
                    f"(headers: {', '.join(signature_headers)})."
                ),
                "parameters": [
                    {"name": h, "in": "header", "required": True, "schema": {"type": "string"}}
                    for h in signature_headers
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                "responses": {
                    "200": answer("accepted, or a duplicate of a processed event"),
                    "400": answer("rejected (bad signature) or replay (stale timestamp)"),
                    "409": answer("in flight: the first delivery is still processing"),
                    "422": answer(
                        "conflict: same event id, different payload", "application/problem+json"
                    ),
                    "500": answer("failed: processing raised; a retry is processed again"),
                },
            }
        },
        "/healthz": {
            "get": {
                "operationId": "health",
                "summary": "Liveness",
                "responses": {"200": {"description": "the receiver is up"}},
            }
        },
    }
    if readback_path is not None:
        paths[readback_path] = {
            "get": {
                "operationId": "readBackEvent",
                "summary": "Every delivery attempt of one event, with its outcome",
                "security": [{"adminBearer": []}],
                "parameters": [
                    {
                        "name": "event_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                ],
                "responses": {
                    "200": {
                        "description": "the event",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Event"}}
                        },
                    },
                    "401": {"description": "missing or wrong admin token"},
                    "404": {"description": "unknown event id"},
                },
            }
        }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "neruba reference webhook receiver",
            "version": __version__,
            "description": "Follows the neruba-harden receiver contract (CONTRACT.md).",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {"adminBearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Outcome": {"type": "object", "properties": outcome_props},
                "Event": {
                    "type": "object",
                    "required": ["event_id", "state", "side_effects", "deliveries"],
                    "properties": {
                        "event_id": {"type": "string"},
                        "state": {"type": ["string", "null"]},
                        "payload_sha256": {"type": ["string", "null"]},
                        "side_effects": {"type": "integer"},
                        "deliveries": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "outcome": {"type": "string"},
                                    "status": {"type": "integer"},
                                    "request_id": {"type": "string"},
                                    "received_at": {"type": "string", "format": "date-time"},
                                },
                            },
                        },
                    },
                },
            },
        },
    }


SWAGGER_UI_HTML = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>neruba reference receiver - Swagger UI</title>
<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui"});
</script>
</body>
</html>
"""

REDOC_HTML = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>neruba reference receiver - ReDoc</title>
</head>
<body>
<redoc spec-url="/openapi.json"></redoc>
<script src="https://cdn.jsdelivr.net/npm/redoc@2/bundles/redoc.standalone.js"></script>
</body>
</html>
"""
