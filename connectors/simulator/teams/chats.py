"""Chats, chat members and chat messages, under /chats and under /users/{id}/chats, and
getAllMessages."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from connectors.simulator import content
from connectors.simulator.http import ApiError, Request, Response, Router, bad_request, json_response, not_modelled
from connectors.simulator.store import Item
from connectors.simulator.teams.edits import delete_not_supported, message_update
from connectors.simulator.teams.model import (
    chat_object,
    iso_ms,
    member_id,
    message_info,
    one_on_one_chat_id,
    parse_time,
    thread_hex,
)
from connectors.simulator.teams.query import (
    all_messages_filter,
    bound_user,
    capped_limits,
    chat_message_query,
    expand_options,
    message_body,
    page,
    writable,
)
from connectors.simulator.teams.seed import chat_state
from connectors.simulator.teams.state import (
    ChatState,
    OnHolder,
    app_sender,
    require_message,
    update_item,
)
from connectors.simulator.teams.teams_routes import add_members
from connectors.simulator.tenant import public
from connectors.simulator.views import select

_CHAT_EXPANDS = {"members", "lastMessagePreview"}
_CHAT_ORDER = "lastMessagePreview/createdDateTime desc"  # chat-list.md: the only supported $orderby


class ChatRoutes(OnHolder):
    def register(self, r: Router) -> None:
        ch, uch = "/chats/{chat}", "/users/{user}/chats/{chat}"
        r.add("GET", "/chats", self.list_chats)
        r.add("POST", "/chats", self.create_chat)
        r.add("GET", "/chats/getAllMessages", self.catalogue_all_messages)
        r.add("GET", "/users/{user}/chats", self.list_user_chats)
        r.add("GET", "/users/{user}/chats/getAllMessages", self.user_all_chat_messages)
        r.add("GET", ch, self.get_chat)
        r.add("PATCH", ch, self.update_chat)
        r.add("DELETE", ch, self.delete_chat)
        r.add("GET", f"{ch}/members", self.list_chat_members)
        r.add("POST", f"{ch}/members", self.add_chat_member)
        r.add("POST", f"{ch}/members/add", self.add_chat_members)
        r.add("GET", f"{ch}/members/{{member}}", self.get_chat_member)
        r.add("PATCH", f"{ch}/members/{{member}}", self.update_chat_member)
        r.add("DELETE", f"{ch}/members/{{member}}", self.remove_chat_member)
        r.add("GET", f"{ch}/messages", self.list_chat_messages)
        r.add("POST", f"{ch}/messages", self.post_chat_message)
        r.add("GET", f"{ch}/messages/{{message}}", self.get_chat_message)
        r.add("PATCH", f"{ch}/messages/{{message}}", self.update_chat_message)
        r.add("DELETE", f"{ch}/messages/{{message}}", delete_not_supported)
        # chat-get.md, chat-list-members.md, chat-list-messages.md: the same reads under a user.
        r.add("GET", uch, self.get_chat)
        r.add("GET", f"{uch}/members", self.list_chat_members)
        r.add("GET", f"{uch}/members/{{member}}", self.get_chat_member)
        r.add("GET", f"{uch}/messages", self.list_chat_messages)
        r.add("GET", f"{uch}/messages/{{message}}", self.get_chat_message)
        # chatmessage-softdelete.md, chatmessage-undosoftdelete.md: v1.0 deletes a chat message only
        # through these actions, and only under the user (a member of the chat).
        r.add("POST", f"{uch}/messages/{{message}}/softDelete", self.soft_delete_chat_message(True))
        r.add("POST", f"{uch}/messages/{{message}}/undoSoftDelete", self.soft_delete_chat_message(False))

    def _chat(self, req: Request) -> tuple[ChatState, Item]:
        """The chat of a request; under /users/{id}/chats the user must be one of its members."""
        user = req.params.get("user")
        if user is not None:
            return self.state.user_chat(user, req.params["chat"])
        return self.state.chat(req.params["chat"])

    # -- chats -----------------------------------------------------------------------------------
    def list_chats(self, req: Request) -> Response:
        user = req.principal.user_id if req.principal else None
        if user is None:
            # List chats supports application permissions only as /users/{id}/chats.
            raise ApiError(412, "PreconditionFailed", "Requested API is not supported in application-only context")
        return self._chats_page(req, user)

    def list_user_chats(self, req: Request) -> Response:
        return self._chats_page(req, req.params["user"])

    def _chats_page(self, req: Request, user: str) -> Response:
        """List chats (chat-list.md): $expand members and/or lastMessagePreview, $filter, $top up to 50,
        and $orderby=lastMessagePreview/createdDateTime desc (the only order Graph supports)."""
        expand = expand_options(req, _CHAT_EXPANDS, "chats")
        chats = self.state.chats_of(user)
        orderby = req.query.get("$orderby")
        if orderby is not None:
            if " ".join(orderby.split()).lower() != _CHAT_ORDER.lower():
                raise bad_request(f"$orderby is only supported as '{_CHAT_ORDER}' on chats.")
            chats.sort(key=lambda kv: self._last_created(kv[0]), reverse=True)
        rendered = (self.render_chat(k, v, self._viewer(req), expand) for k, v in chats)
        return page(req, rendered, capped_limits(), filterable=True)

    @staticmethod
    def _viewer(req: Request) -> str | None:
        """viewpoint "is populated only when the request is made in a delegated context" (resources/chat.md)."""
        return req.principal.user_id if req.principal else None

    def render_chat(self, key: str, item: Item, viewer: str | None, expand: set[str]) -> dict:
        """A chat with the caller's viewpoint (null app-only) and the expanded navigation properties."""
        state = self.state.chat_state[key]
        out = public(item)
        out["viewpoint"] = self._viewpoint(state, item, viewer) if viewer else None
        if "members" in expand:
            out["members"] = [public(m) for _, m in state.members.items()]
        if "lastMessagePreview" in expand:
            last = self._last_message(key)
            out["lastMessagePreview"] = message_info(last) if last else None
        return out

    def _viewpoint(self, state: ChatState, chat: Item, viewer: str) -> dict:
        """chatViewpoint: isHidden, and lastMessageReadDateTime, here the time of the viewer's own
        latest message (what they have certainly seen), else when the chat was created."""
        own = [m["createdDateTime"] for _, m in state.thread.store.items()
               if ((m.get("from") or {}).get("user") or {}).get("id") == viewer]
        return {"isHidden": False, "lastMessageReadDateTime": max(own) if own else chat["createdDateTime"]}

    def _last_message(self, key: str) -> Item | None:
        messages = self.state.chat_state[key].thread.store.items()
        return max((m for _, m in messages), key=lambda m: int(m["id"]), default=None)

    def _last_created(self, key: str) -> datetime:
        last = self._last_message(key)
        return parse_time(last["createdDateTime"]) if last else datetime.min.replace(tzinfo=UTC)

    def get_chat(self, req: Request) -> Response:
        """Get chat (chat-get.md): with the caller's viewpoint; $expand=members is kept for clients."""
        state, item = self._chat(req)
        expand = expand_options(req, {"members"}, "chat")
        return json_response(select(self.render_chat(state.id, item, self._viewer(req), expand), req))

    def create_chat(self, req: Request) -> Response:
        body = req.json()
        kind = body.get("chatType")
        if kind not in ("oneOnOne", "group"):
            raise bad_request("chatType must be 'oneOnOne' or 'group'.")
        tenant = self.holder.tenant
        bound = body.get("members") or []
        member_ids = list(dict.fromkeys(bound_user(tenant, m) for m in bound))
        if kind == "oneOnOne" and len(member_ids) != 2:
            raise bad_request("A oneOnOne chat must have exactly two members.")
        if kind == "group" and len(member_ids) < 2:
            raise bad_request("A group chat must have at least two members.")
        if kind == "oneOnOne" and body.get("topic"):
            raise bad_request("A topic can only be set on a group chat.")
        key = (one_on_one_chat_id(*member_ids) if kind == "oneOnOne"
               else f"19:{thread_hex(tenant.seed, tenant.new_key('chat'))}@thread.v2")
        existing = self.state.chats.get(key)
        if existing is not None:  # documented: an existing one-on-one chat is returned, not duplicated
            return json_response(public(existing), 201)
        item = chat_object(tenant.config.tenant_id, key, kind, body.get("topic"), datetime.now(UTC))
        state = chat_state(tenant, item, member_ids, seeded=False)
        for m in bound:  # roles as requested ("owner" / "guest")
            mkey = member_id(key, bound_user(tenant, m))
            member = state.members.get(mkey)
            if member is not None and m.get("roles") is not None:
                state.members.coll.update(mkey, {**member, "roles": list(m["roles"])}, frozenset({"roles"}))
        self.state.chats.coll.put_new(key, item)
        self.state.chat_state[key] = state
        return json_response(public(item), 201)

    def update_chat(self, req: Request) -> Response:
        state, item = self.state.chat(req.params["chat"])
        fields = writable(req.json(), {"topic"}, "chat")
        if "topic" in fields and item["chatType"] != "group":
            raise bad_request("A topic can only be set on a group chat.")
        fields["lastUpdatedDateTime"] = iso_ms(datetime.now(UTC))
        return json_response(public(update_item(self.state.chats, state.id, item, fields)))

    def delete_chat(self, req: Request) -> Response:
        state, _ = self.state.chat(req.params["chat"])
        self.state.chats.coll.remove(state.id, "changed")  # soft delete: restorable for 30 days
        return Response(204)

    # -- members ---------------------------------------------------------------------------------
    def list_chat_members(self, req: Request) -> Response:
        state, _ = self._chat(req)
        return page(req, (public(m) for _, m in state.members.items()))

    def _chat_member(self, req: Request) -> tuple[ChatState, Item, str, Item]:
        state, chat = self._chat(req)
        key = req.params["member"]
        member = state.members.get(key)
        if member is None:
            raise ApiError(404, "NotFound", "Member not found.")
        return state, chat, key, member

    def get_chat_member(self, req: Request) -> Response:
        return json_response(public(self._chat_member(req)[3]))

    def _initiator(self, req: Request) -> content.Person | None:
        return app_sender(self.holder.tenant, req)[0]

    def add_chat_member(self, req: Request) -> Response:
        """chat-post-members.md: "201 Created response code and a Location header that provides a URL
        path to the newly created member object", `Location: /chats/{chat-id}/members/{member-id}` in
        its examples (whose responses are marked truncated; the member is sent as the body too).
        visibleHistoryStartDateTime is kept; a membersAdded event follows."""
        state, chat = self.state.chat(req.params["chat"])
        if chat["chatType"] == "oneOnOne":
            raise bad_request("Members cannot be added to a oneOnOne chat.")
        body = req.json()
        user = bound_user(self.holder.tenant, body)
        item = self.state.add_chat_member(state, user, list(body.get("roles") or []), self._initiator(req),
                                          body.get("visibleHistoryStartDateTime"))
        return json_response(public(item), 201, {"location": f"/chats/{state.id}/members/{item['id']}"})

    def add_chat_members(self, req: Request) -> Response:
        state, chat = self.state.chat(req.params["chat"])
        if chat["chatType"] == "oneOnOne":
            raise bad_request("Members cannot be added to a oneOnOne chat.")
        initiator = self._initiator(req)

        def add(value: dict) -> dict:
            user = bound_user(self.holder.tenant, value)
            return self.state.add_chat_member(state, user, list(value.get("roles") or []), initiator)

        return add_members(self.holder, req, state.members, state.id, add)

    def update_chat_member(self, req: Request) -> Response:
        state, _, key, member = self._chat_member(req)
        fields = writable(req.json(), {"roles"}, "conversationMember")
        return json_response(public(update_item(state.members, key, member, fields)))

    def remove_chat_member(self, req: Request) -> Response:
        state, chat, _, member = self._chat_member(req)
        if chat["chatType"] == "oneOnOne":
            raise bad_request("Members cannot be removed from a oneOnOne chat.")
        self.state.remove_chat_member(state, member["userId"], self._initiator(req))
        return Response(204)

    # -- messages --------------------------------------------------------------------------------
    def list_chat_messages(self, req: Request) -> Response:
        """$orderby lastModifiedDateTime (default) or createdDateTime, descending only; $filter on the
        same property only, otherwise Graph ignores it; $top up to 50 (chat-list-messages.md)."""
        state, _ = self._chat(req)
        prop, predicate = chat_message_query(req)
        messages = [public(v) for _, v in state.thread.store.items()]
        if predicate is not None:
            messages = [m for m in messages if predicate(m)]
        messages.sort(key=lambda m: (parse_time(m[prop]), int(m["id"])), reverse=True)
        return page(req, messages, capped_limits())

    def get_chat_message(self, req: Request) -> Response:
        state, _ = self._chat(req)
        return json_response(public(require_message(state.thread, req.params["message"])))

    def post_chat_message(self, req: Request) -> Response:
        state, _ = self.state.chat(req.params["chat"])
        item = self.state.post_message(state.thread, message_body(req.json()), *app_sender(self.holder.tenant, req))
        return json_response(public(item), 201)

    def update_chat_message(self, req: Request) -> Response:
        """Update chatMessage (chatmessage-update.md): delegated 204, app-only policyViolation only, 200."""
        state, _ = self.state.chat(req.params["chat"])
        fields, status = message_update(req)
        self.state.edit_message(state.thread, req.params["message"], fields)
        return Response(status)

    def soft_delete_chat_message(self, delete: bool) -> Callable[[Request], Response]:
        """softDelete / undoSoftDelete: no request body, 204 No Content."""
        def handler(req: Request) -> Response:
            state, _ = self._chat(req)
            change = self.state.soft_delete_message if delete else self.state.undo_soft_delete_message
            change(state.thread, req.params["message"])
            return Response(204)
        return handler

    def user_all_chat_messages(self, req: Request) -> Response:
        """getAllMessages (chats-getallmessages.md): application permissions only; every message of
        the user's chats, system events included; $top up to 50 with $skiptoken paging; $filter on the
        lastModifiedDateTime window and on messageType, from/user/id, from/user/userIdentityType and
        from/application/applicationIdentityType, joined with and/or; model A or B."""
        if req.principal is not None and req.principal.user_id is not None:
            raise ApiError(412, "PreconditionFailed", "Requested API is not supported in delegated context")
        predicate = all_messages_filter(req.query.get("$filter"))
        model = req.query.get("model")
        if model is not None and model not in ("A", "B"):
            raise bad_request(f"Invalid model '{model}'; supported values are A and B.")
        keys = [k for k, _ in self.state.chats_of(req.params["user"])]
        messages = (public(v) for key in keys for _, v in self.state.chat_state[key].thread.store.items())
        return page(req, [m for m in messages if predicate(m)], capped_limits())

    def catalogue_all_messages(self, req: Request) -> Response:
        raise not_modelled(req.method, req.path, "Graph v1.0 documents GET getAllMessages only as "
                                                 "/users/{id}/chats/getAllMessages (chats-getallmessages.md); "
                                                 "/chats/getAllMessages is a change-notification resource.")
