"""Drive the simulator with Microsoft's own Python SDK (msgraph-sdk), a client nobody here wrote.

Runs in its own venv (`make sdk-venv`); prints one JSON object of observations for the pytest side
(tests/simulator/test_msgraph_sdk.py) to compare with the simulator's state.
Usage: python sdk_client.py   (GRAPH_* variables in the environment, as `graphsync simulator serve` prints;
with SDK_DELEGATED_USER set, it signs in as that user with the device code flow and reads /me, /me/messages)
"""

from __future__ import annotations

import asyncio
import json
import os
from urllib.parse import urlparse

import httpx
from kiota_abstractions.authentication import (
    AccessTokenProvider,
    AllowedHostsValidator,
    BaseBearerTokenAuthenticationProvider,
)
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.models.body_type import BodyType
from msgraph.generated.models.date_time_time_zone import DateTimeTimeZone
from msgraph.generated.models.email_address import EmailAddress
from msgraph.generated.models.event import Event
from msgraph.generated.models.item_body import ItemBody
from msgraph.generated.models.message import Message
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.recipient import Recipient
from msgraph.generated.teams.item.channels.item.messages.delta.delta_request_builder import (
    DeltaRequestBuilder as ChannelDeltaBuilder,
)
from msgraph.generated.users.item.calendar_view.delta.delta_request_builder import (
    DeltaRequestBuilder as CalendarDeltaBuilder,
)
from msgraph.generated.users.item.messages.item.move.move_post_request_body import MovePostRequestBody
from msgraph.generated.users.item.send_mail.send_mail_post_request_body import SendMailPostRequestBody
from msgraph.generated.users.users_request_builder import UsersRequestBuilder
from msgraph.graph_request_adapter import options as SDK_MIDDLEWARE_OPTIONS
from msgraph_core import GraphClientFactory
from msgraph_core.tasks.page_iterator import PageIterator

ENV = os.environ


class ClientCredentialsTokens(AccessTokenProvider):
    """Client-credentials tokens from the configured token URL (what azure-identity would do)."""

    def __init__(self) -> None:
        self._token: str | None = None
        self._hosts = AllowedHostsValidator([urlparse(ENV["GRAPH_API_URL"]).hostname or ""])

    async def get_authorization_token(self, uri: str, additional_authentication_context: dict | None = None) -> str:
        if self._token is None:
            origin = "{0.scheme}://{0.netloc}".format(urlparse(ENV["GRAPH_API_URL"]))
            async with httpx.AsyncClient(verify=ENV["GRAPH_CA_BUNDLE"]) as http:
                r = await http.post(ENV["GRAPH_TOKEN_URL"], data={
                    "client_id": ENV["GRAPH_CLIENT_ID"], "client_secret": ENV["GRAPH_CLIENT_SECRET"],
                    "grant_type": "client_credentials", "scope": f"{origin}/.default"})
                r.raise_for_status()
                self._token = r.json()["access_token"]
        return self._token

    def get_allowed_hosts_validator(self) -> AllowedHostsValidator:
        return self._hosts


class DeviceCodeTokens(AccessTokenProvider):
    """A delegated token from the device code flow. The person who signs in in a browser is the
    simulator's control call `approve_device_code` here, as SDK_DELEGATED_USER."""

    def __init__(self, scopes: str) -> None:
        self._token: str | None = None
        self._scopes = scopes
        self._hosts = AllowedHostsValidator([urlparse(ENV["GRAPH_API_URL"]).hostname or ""])

    async def get_authorization_token(self, uri: str, additional_authentication_context: dict | None = None) -> str:
        if self._token is None:
            origin = "{0.scheme}://{0.netloc}".format(urlparse(ENV["GRAPH_API_URL"]))
            authority = ENV["GRAPH_TOKEN_URL"].removesuffix("/oauth2/v2.0/token")
            async with httpx.AsyncClient(verify=ENV["GRAPH_CA_BUNDLE"]) as http:
                flow = (await http.post(f"{authority}/oauth2/v2.0/devicecode", data={
                    "client_id": ENV["GRAPH_CLIENT_ID"], "scope": self._scopes})).raise_for_status().json()
                await http.post(f"{origin}/_sim/control/approve_device_code", json={
                    "user_code": flow["user_code"], "user": ENV["SDK_DELEGATED_USER"]})
                while True:
                    r = await http.post(ENV["GRAPH_TOKEN_URL"], data={
                        "client_id": ENV["GRAPH_CLIENT_ID"], "device_code": flow["device_code"],
                        "grant_type": "urn:ietf:params:oauth:grant-type:device_code"})
                    if r.status_code == 200:
                        self._token = r.json()["access_token"]
                        break
                    if r.json().get("error") != "authorization_pending":
                        r.raise_for_status()
                    await asyncio.sleep(flow["interval"])
        return self._token

    def get_allowed_hosts_validator(self) -> AllowedHostsValidator:
        return self._hosts


def build_client(tokens: AccessTokenProvider | None = None) -> GraphServiceClient:
    # The SDK's own middleware options: among them the UrlReplaceHandler that turns its
    # "/users/me-token-to-replace" URLs into "/me" (msgraph/graph_request_adapter.py).
    http = GraphClientFactory.create_with_default_middleware(client=httpx.AsyncClient(verify=ENV["GRAPH_CA_BUNDLE"]),
                                                             options=SDK_MIDDLEWARE_OPTIONS)
    adapter = GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(tokens or ClientCredentialsTokens()),
                                  client=http)
    adapter.base_url = ENV["GRAPH_API_URL"]
    return GraphServiceClient(request_adapter=adapter)


async def main() -> dict:
    client = build_client()
    out: dict = {}

    # Paging: users two at a time through the SDK's PageIterator.
    query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(top=2)
    first = await client.users.get(request_configuration=RequestConfiguration(query_parameters=query))
    user_ids: list[str] = []
    iterator = PageIterator(first, client.request_adapter)
    await iterator.iterate(lambda user: user_ids.append(user.id) or True)
    out["user_ids"] = user_ids
    user = client.users.by_user_id(user_ids[0])

    # Delta: follow nextLinks to the deltaLink with the generated delta builder.
    inbox = user.mail_folders.by_mail_folder_id("inbox")
    page = await inbox.messages.delta.get()
    seen: dict[str, str | None] = {}
    pages = 0
    while True:
        pages += 1
        for message in page.value or []:
            seen[message.id] = message.subject
        if page.odata_next_link:
            page = await inbox.messages.delta.with_url(page.odata_next_link).get()
            continue
        out["delta_link"] = page.odata_delta_link
        break
    out["delta_ids"] = sorted(seen)
    out["delta_pages"] = pages
    first_subject = next(iter(seen.values()))
    out["parsed_subject"] = first_subject

    # Writes: draft (201), patch (200), move (201), send mail (202), delete (204).
    draft = await user.messages.post(Message(
        subject="SDK draft", body=ItemBody(content_type=BodyType.Html, content="<p>from msgraph-sdk</p>"),
        to_recipients=[Recipient(email_address=EmailAddress(address="someone@example.com"))]))
    out["draft"] = {"id": draft.id, "is_draft": draft.is_draft, "subject": draft.subject}
    patched = await user.messages.by_message_id(draft.id).patch(Message(importance=None, is_read=False,
                                                                        subject="SDK draft v2"))
    out["patched_subject"] = patched.subject
    moved = await user.messages.by_message_id(draft.id).move.post(MovePostRequestBody(destination_id="archive"))
    out["moved_parent"] = moved.parent_folder_id
    await user.send_mail.post(SendMailPostRequestBody(message=Message(
        subject="SDK sendMail", body=ItemBody(content_type=BodyType.Text, content="hello"),
        to_recipients=[Recipient(email_address=EmailAddress(address=ENV["SDK_RECIPIENT"]))]), save_to_sent_items=True))
    out["sent"] = True
    await user.messages.by_message_id(moved.id).delete()
    out["deleted"] = moved.id

    # Calendar: create an event (201) and read the calendarView delta of a window.
    event = await user.events.post(Event(
        subject="SDK meeting", start=DateTimeTimeZone(date_time="2026-11-02T10:00:00", time_zone="UTC"),
        end=DateTimeTimeZone(date_time="2026-11-02T10:30:00", time_zone="UTC")))
    out["event_id"] = event.id
    window = CalendarDeltaBuilder.DeltaRequestBuilderGetQueryParameters(
        start_date_time="2026-10-01T00:00:00Z", end_date_time="2026-12-01T00:00:00Z")
    view = await user.calendar_view.delta.get(request_configuration=RequestConfiguration(query_parameters=window))
    subjects = []
    while True:
        subjects += [e.subject for e in view.value or []]
        if not view.odata_next_link:
            break
        view = await user.calendar_view.delta.with_url(view.odata_next_link).get()
    out["calendar_subjects"] = subjects

    # OneDrive: list the root's children and download a file (302 to a pre-authenticated URL).
    drive = await user.drive.get()
    children = await client.drives.by_drive_id(drive.id).items.by_drive_item_id("root").children.get()
    files = [c for c in children.value or [] if c.file is not None] or []
    folders = [c for c in children.value or [] if c.folder is not None]
    out["drive_folders"] = sorted(f.name for f in folders)
    if not files and folders:
        inner = await client.drives.by_drive_id(drive.id).items.by_drive_item_id(folders[0].id).children.get()
        files = [c for c in inner.value or [] if c.file is not None]
    if files:
        data = await client.drives.by_drive_id(drive.id).items.by_drive_item_id(files[0].id).content.get()
        out["download"] = {"name": files[0].name, "size": files[0].size, "bytes": len(data or b"")}

    # Teams: list teams and a channel's messages.
    teams = await client.teams.get()
    out["teams"] = sorted(t.display_name for t in teams.value or [])
    out["teams_settings"] = [t.member_settings is not None for t in teams.value or []]
    out.update(await teams_and_chats(client, user_ids[0], teams.value[0].id))

    # Errors parse into ODataError with Graph's code.
    try:
        await user.messages.by_message_id(moved.id).get()
        out["error_code"] = None
    except ODataError as err:
        out["error_code"] = err.error.code if err.error else None
        out["error_status"] = err.response_status_code
    return out


async def delegated() -> dict:
    """`/me` and `/me/messages` with a delegated token (device code flow), paging to the end."""
    origin = "{0.scheme}://{0.netloc}".format(urlparse(ENV["GRAPH_API_URL"]))
    client = build_client(DeviceCodeTokens(f"{origin}/User.Read {origin}/Mail.Read offline_access"))
    me = await client.me.get()
    page = await client.me.messages.get()
    ids: list[str] = []
    iterator = PageIterator(page, client.request_adapter)
    await iterator.iterate(lambda message: ids.append(message.id) or True)
    return {"me_id": me.id, "me_upn": me.user_principal_name, "me_message_ids": sorted(ids)}


async def teams_and_chats(client: GraphServiceClient, user_id: str, team_id: str) -> dict:
    """Chats, chat members and messages under a user; channels and the channel message delta."""
    out: dict = {"team_id": team_id}
    user = client.users.by_user_id(user_id)
    chats = await user.chats.get()
    out["chat_ids"] = sorted(c.id for c in chats.value or [])
    out["chat_types"] = sorted({c.chat_type.value for c in chats.value or [] if c.chat_type})
    out["chat_id"] = chats.value[0].id
    chat = user.chats.by_chat_id(out["chat_id"])
    members = await chat.members.get()
    # The SDK parses members as aadUserConversationMember (from @odata.type), which has user_id.
    out["chat_member_user_ids"] = sorted(getattr(m, "user_id", None) or "" for m in members.value or [])
    messages = await chat.messages.get()
    out["chat_message_ids"] = sorted(m.id for m in messages.value or [])
    out["chat_message_types"] = sorted({m.message_type.value for m in messages.value or [] if m.message_type})

    team = client.teams.by_team_id(team_id)
    channels = await team.channels.get()
    out["channel_names"] = sorted(c.display_name for c in channels.value or [])
    general = next(c for c in channels.value or [] if c.display_name == "General")
    out["general_id"] = general.id
    delta = team.channels.by_channel_id(general.id).messages.delta
    params = ChannelDeltaBuilder.DeltaRequestBuilderGetQueryParameters(top=2)
    page = await delta.get(request_configuration=RequestConfiguration(query_parameters=params))
    seen: set[str] = set()
    pages = 0
    while True:
        pages += 1
        seen.update(m.id for m in page.value or [])
        if not page.odata_next_link:
            out["channel_delta_link"] = page.odata_delta_link
            break
        page = await delta.with_url(page.odata_next_link).get()
    out["channel_delta_ids"] = sorted(seen)
    out["channel_delta_pages"] = pages
    return out


if __name__ == "__main__":
    print(json.dumps(asyncio.run(delegated() if ENV.get("SDK_DELEGATED_USER") else main())))
