"""msgraph-sdk against the routes issue 14 added to the simulator: places, drive delta through an item
and search_with_q, event instances and the calendar's calendarView, Prefer: outlook.timezone, the three
attachment kinds and createUploadSession. Runs in the SDK's venv (`make sdk-venv`), reuses the client
setup of tests/sdk/sdk_client.py, and prints one JSON object of observations for
test_msgraph_sdk_routes.py. Input: the GRAPH_* variables and SDK_USER, SDK_MASTER_EVENT,
SDK_ATTACHMENT_MESSAGE (the message carrying the seeded large attachment)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sdk"))

from kiota_abstractions.base_request_configuration import RequestConfiguration  # noqa: E402
from msgraph.generated.models.attachment_item import AttachmentItem  # noqa: E402
from msgraph.generated.models.attachment_type import AttachmentType  # noqa: E402
from msgraph.generated.models.file_attachment import FileAttachment  # noqa: E402
from msgraph.generated.users.item.calendar.calendar_view.calendar_view_request_builder import (  # noqa: E402
    CalendarViewRequestBuilder,
)
from msgraph.generated.users.item.calendar.events.item.instances.instances_request_builder import (  # noqa: E402
    InstancesRequestBuilder,
)
from msgraph.generated.users.item.messages.item.attachments.create_upload_session.create_upload_session_post_request_body import (  # noqa: E402,E501
    CreateUploadSessionPostRequestBody,
)
from sdk_client import build_client  # noqa: E402

ENV = os.environ
START, END = "2026-10-02T00:00:00Z", "2026-12-01T00:00:00Z"


async def main() -> dict:
    client = build_client()
    out: dict = {}
    user = client.users.by_user_id(ENV["SDK_USER"])

    rooms = await client.places.graph_room.get()
    out["room_emails"] = [r.email_address for r in rooms.value]
    out["room_capacities"] = [r.capacity for r in rooms.value]
    lists = await client.places.graph_room_list.get()
    out["room_list_emails"] = [r.email_address for r in lists.value]
    inside = await client.places.by_place_id(out["room_list_emails"][0]).graph_room_list.rooms.get()
    out["rooms_in_first_list"] = [r.email_address for r in inside.value]

    drive = await user.drive.get()
    items = client.drives.by_drive_id(drive.id).items
    page = await items.by_drive_item_id("root").delta.get()
    seen, pages = set(), 0
    while True:
        pages += 1
        seen |= {i.id for i in page.value or []}
        if page.odata_next_link:
            page = await items.by_drive_item_id("root").delta.with_url(page.odata_next_link).get()
            continue
        out["drive_delta_link"] = page.odata_delta_link
        break
    out["drive_delta_ids"], out["drive_delta_pages"] = sorted(seen), pages
    found = await items.by_drive_item_id("root").search_with_q("budget").get()
    out["search_names"] = sorted(i.name for i in found.value)

    window = InstancesRequestBuilder.InstancesRequestBuilderGetQueryParameters(start_date_time=START,
                                                                              end_date_time=END)
    instances = await user.calendar.events.by_event_id(ENV["SDK_MASTER_EVENT"]).instances.get(
        request_configuration=RequestConfiguration(query_parameters=window))
    out["instances"] = [{"id": i.id, "type": i.type.value if i.type else None, "seriesMasterId": i.series_master_id}
                        for i in instances.value]
    params = CalendarViewRequestBuilder.CalendarViewRequestBuilderGetQueryParameters(start_date_time=START,
                                                                                    end_date_time=END, top=200)
    config = RequestConfiguration(query_parameters=params)
    config.headers.add("Prefer", 'outlook.timezone="Pacific Standard Time"')
    view = await user.calendar.calendar_view.get(request_configuration=config)
    out["view_zones"] = sorted({e.start.time_zone for e in view.value})
    out["view_count"] = len(view.value)

    message = user.messages.by_message_id(ENV["SDK_ATTACHMENT_MESSAGE"])
    attachments = await message.attachments.get()
    out["attachment_types"] = sorted(type(a).__name__ for a in attachments.value)
    files = [a for a in attachments.value if isinstance(a, FileAttachment)]
    large = max(files, key=lambda a: a.size)
    one = await message.attachments.by_attachment_id(large.id).get()
    out["large_sha256"] = hashlib.sha256(one.content_bytes).hexdigest()
    out["large_size"] = one.size
    body = CreateUploadSessionPostRequestBody(attachment_item=AttachmentItem(
        attachment_type=AttachmentType.File, name="sdk.bin", size=3 * 1024 * 1024 + 1))
    session = await message.attachments.create_upload_session.post(body)
    out["upload_url"] = session.upload_url
    out["upload_next"] = session.next_expected_ranges
    return out


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main())))
