"""What a PATCH of a chat or channel message may change, and the answer to a DELETE of one.

chatmessage-update.md: "With the exception of the policyViolation property, all properties of a
chatMessage can be updated in delegated permissions scenarios. Only the policyViolation property of a
chatMessage can be updated in application permissions scenarios." Delegated: 204 No Content;
application: 200 OK. `model` "only supports the value A".
"""

from __future__ import annotations

from typing import Any

from connectors.simulator.http import ApiError, Request, Response, bad_request

POLICY_VIOLATION = "policyViolation"
# What a delegated edit changes: the content of the message.
EDITABLE = {"body", "subject", "summary", "importance", "mentions", "attachments", "locale"}
# Properties of resources/chatmessage.md that a delegated body may carry (chatmessage-update.md's own
# examples send the whole message back: messageType, from, reactions, deletedDateTime...), which Teams
# keeps as they are: who sent it, when, and where are not the editor's to change.
KEPT = {"id", "replyToId", "etag", "messageType", "createdDateTime", "lastModifiedDateTime", "lastEditedDateTime",
        "deletedDateTime", "chatId", "channelIdentity", "from", "webUrl", "eventDetail", "messageHistory",
        "reactions", "onBehalfOf", "@odata.type", "@odata.context"}


def message_update(req: Request) -> tuple[dict[str, Any], int]:
    """(the fields to change, the success status) of a PATCH of a chatMessage, or Graph's refusal."""
    body = req.json()
    if not isinstance(body, dict) or not body:
        raise bad_request("Empty Payload. JSON content expected.")
    model = req.query.get("model")
    if model is not None and model != "A":
        raise bad_request(f"Invalid model '{model}'; only model A is supported on this API.")
    unknown = set(body) - EDITABLE - KEPT - {POLICY_VIOLATION}
    if unknown:
        raise bad_request(f"Property '{sorted(unknown)[0]}' does not exist on type 'microsoft.graph.chatMessage' "
                          "or cannot be updated.")
    app_only = req.principal is not None and req.principal.user_id is None
    if app_only:
        if set(body) - {"@odata.type", "@odata.context"} != {POLICY_VIOLATION}:
            # The page documents no error body. Teams refuses what an application may not do with 412
            # PreconditionFailed "Requested API is not supported in application-only context"
            # (microsoftgraph/microsoft-graph-docs#17168), and app-only PATCHes of chat messages have been
            # observed answering 412 (microsoftgraph/msgraph-sdk-python#273).
            raise ApiError(412, "PreconditionFailed", "Requested API is not supported in application-only context. "
                                                      "Only the policyViolation property of a chatMessage can be "
                                                      "updated with application permissions.")
        return {POLICY_VIOLATION: body[POLICY_VIOLATION]}, 200
    if POLICY_VIOLATION in body:
        raise bad_request("The policyViolation property of a chatMessage can only be updated with application "
                          "permissions.")
    return {k: v for k, v in body.items() if k in EDITABLE}, 204


def delete_not_supported(req: Request) -> Response:
    """DELETE of a chat or channel message. Graph v1.0 has no such operation: a message is deleted with
    the softDelete action (chatmessage-softdelete.md; resources/chatmessage.md lists no Delete method).
    The v1.0 metadata still admits the verb (msgraph-sdk-powershell generated Remove-MgChatMessage from
    it), and Teams answers it 404 NotFound while GET of the same message succeeds
    (microsoftgraph/msgraph-sdk-powershell#767: "The server responded with a Request Error, Status:
    NotFound"; the maintainers: deleting a chat message "isn't supported by the API"). The body text is
    not on record; this one says what to use instead."""
    raise ApiError(404, "NotFound", f"No resource supports DELETE at {req.path}: Graph v1.0 deletes a chat or "
                                    "channel message with POST .../softDelete.")
