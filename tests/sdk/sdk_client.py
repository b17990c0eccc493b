"""Drive the simulator with Microsoft's own Python SDK (msgraph-sdk), a client nobody here wrote.

Runs in its own venv (`make sdk-venv`); prints one JSON object of observations for the pytest side
(tests/simulator/test_msgraph_sdk.py) to compare with the simulator's state.
Usage: python sdk_client.py   (GRAPH_* variables in the environment, as `graphsync simulator serve` prints)
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
from msgraph.generated.models.email_address import EmailAddress
from msgraph.generated.models.item_body import ItemBody
from msgraph.generated.models.message import Message
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.recipient import Recipient
from msgraph.generated.users.item.messages.item.move.move_post_request_body import MovePostRequestBody
from msgraph.generated.users.item.send_mail.send_mail_post_request_body import SendMailPostRequestBody
from msgraph.generated.users.users_request_builder import UsersRequestBuilder
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


def build_client() -> GraphServiceClient:
    http = GraphClientFactory.create_with_default_middleware(client=httpx.AsyncClient(verify=ENV["GRAPH_CA_BUNDLE"]))
    adapter = GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(ClientCredentialsTokens()), client=http)
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

    # Errors parse into ODataError with Graph's code.
    try:
        await user.messages.by_message_id(moved.id).get()
        out["error_code"] = None
    except ODataError as err:
        out["error_code"] = err.error.code if err.error else None
        out["error_status"] = err.response_status_code
    return out


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main())))
