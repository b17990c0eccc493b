"""Every stream graphsync follows, as data: the sync plan.

Each stream names its kind, its parent (whose live rows give its scopes) and its root (see plan.py).
Adding a Graph collection means a declaration here, its model in models/ and its tests; the runner,
the CLI's table list, the Dagster assets and the README's table list all read `PLAN`.
"""

from __future__ import annotations

from dataclasses import replace

from pipelines.sync.plan import Accounts, Kind, Parent, Plan, Polling, Removal, Root, StreamSpec

# -- directory -------------------------------------------------------------------------------------

USERS = StreamSpec(
    name="users",
    table="users",
    group="directory",
    description=("Every user of the tenant (users delta), with tombstones for deleted users. Feeds the "
                 "`mailboxes` partitions."),
    kind=Kind.DELTA,
    path="/users/delta",
    # $select decides which properties are tracked (delta-query-users.md).
    query="$select=id,displayName,givenName,surname,userPrincipalName,mail,jobTitle,department,"
          "officeLocation,mobilePhone,businessPhones,preferredLanguage,accountEnabled,createdDateTime,"
          "usageLocation,companyName,employeeId,city,country",
    page_size=200,
    app_permission="User.Read.All",
    delegated_permission="User.Read",
)

_MAILBOX = Parent("users", (("user_id", "id"),))  # every live user is a mailbox; a deleted one retires all below

# -- mail and calendar -----------------------------------------------------------------------------

MAIL_FOLDERS = StreamSpec(
    name="mail_folders",
    table="mail_folders",
    group="mail",
    description="Every mail folder of each mailbox, nested ones included (mailFolders delta).",
    kind=Kind.DELTA,
    path="/users/{user_id}/mailFolders/delta",
    root=Root.MAILBOX,
    parent=_MAILBOX,
    app_permission="Mail.ReadBasic.All",  # mailfolder-delta.md
    delegated_permission="Mail.ReadBasic",
)

MESSAGES = StreamSpec(
    name="messages",
    table="messages",
    group="mail",
    description=("Every message of each mailbox (messages delta per folder, immutable ids). A moved message "
                 "is one live row in its current folder."),
    kind=Kind.DELTA,
    path="/users/{user_id}/mailFolders/{folder_id}/messages/delta",
    root=Root.MAILBOX,
    parent=Parent("mail_folders", (("user_id", "user_id"), ("folder_id", "id"))),
    scope_columns=(("folder_id", "parent_folder_id"),),
    removal_guard=("parent_folder_id", "folder_id"),
    page_size=200,
    # message-delta.md's least is Mail.ReadBasic(.All), which leaves out the body we store.
    app_permission="Mail.Read",
    delegated_permission="Mail.Read",
)

MESSAGE_ATTACHMENTS = StreamSpec(
    name="message_attachments",
    table="message_attachments",
    group="mail",
    description=("Attachment metadata of each message that has any (name, type, size; no content). Opt-in "
                 "(`sync --only message_attachments`): one request per such message the first time, then "
                 "only for new and changed ones; retired with the message."),
    kind=Kind.SNAPSHOT,
    path="/users/{user_id}/messages/{message_id}/attachments",
    # contentBytes left out: metadata only (message-list-attachments.md; a file would come inline).
    query="$select=id,name,contentType,size,isInline,lastModifiedDateTime",
    root=Root.MAILBOX,
    parent=Parent("messages", (("user_id", "user_id"), ("message_id", "id")), changed_only=True,
                  only_if="has_attachments"),
    opt_in=True,
    app_permission="Mail.Read",  # message-list-attachments.md
    delegated_permission="Mail.Read",
)

EVENTS = StreamSpec(
    name="events",
    table="events",
    group="calendar",
    description=("Events of each mailbox's default calendar from a year before to a year after the day of "
                 "the run (Graph v1.0 offers delta only for a calendar view); occurrences of recurring events "
                 "are rows of their own. An event that left the window stays as last seen; only one Graph "
                 "deleted is tombstoned."),
    kind=Kind.DELTA,
    # v1.0 has delta only for a calendar *view*: occurrences of recurring events are expanded, and an
    # event moved out of the window is reported removed like a deleted one; `confirm` tells them apart.
    path="/users/{user_id}/calendarView/delta",
    root=Root.MAILBOX,
    parent=_MAILBOX,
    window_days=(365, 365),
    confirm="/users/{user_id}/events/{id}",
    app_permission="Calendars.Read",
    delegated_permission="Calendars.Read",
)

CALENDARS = StreamSpec(
    name="calendars",
    table="calendars",
    group="calendar",
    description="Every calendar of each mailbox (a snapshot each run: a removed calendar is tombstoned).",
    kind=Kind.SNAPSHOT,  # v1.0 has no calendar delta
    path="/users/{user_id}/calendars",
    root=Root.MAILBOX,
    parent=_MAILBOX,
    app_permission="Calendars.ReadBasic",  # user-list-calendars.md
    delegated_permission="Calendars.ReadBasic",
)

CALENDAR_GROUPS = StreamSpec(
    name="calendar_groups",
    table="calendar_groups",
    group="calendar",
    description="Each mailbox's calendar groups (a snapshot each run); their calendars are rows of `calendars`.",
    kind=Kind.SNAPSHOT,  # v1.0 has no calendarGroup delta
    path="/users/{user_id}/calendarGroups",
    root=Root.MAILBOX,
    parent=_MAILBOX,
    app_permission="Calendars.ReadBasic",  # user-list-calendargroups.md (as user-list-calendars.md)
    delegated_permission="Calendars.ReadBasic",
)

CALENDAR_PERMISSIONS = StreamSpec(
    name="calendar_permissions",
    table="calendar_permissions",
    group="calendar",
    description="Who each calendar is shared with or delegated to, and their role (a snapshot per calendar).",
    kind=Kind.SNAPSHOT,
    path="/users/{user_id}/calendars/{calendar_id}/calendarPermissions",
    root=Root.MAILBOX,
    parent=Parent("calendars", (("user_id", "user_id"), ("calendar_id", "id"))),
    app_permission="Calendars.Read",  # calendar-list-calendarpermissions.md: ReadBasic does not cover sharing
    delegated_permission="Calendars.Read",
)

CATEGORIES = StreamSpec(
    name="categories",
    table="categories",
    group="mail",
    description="Each mailbox's Outlook master categories: the names and colours messages and events are tagged with.",
    kind=Kind.SNAPSHOT,
    path="/users/{user_id}/outlook/masterCategories",
    root=Root.MAILBOX,
    parent=_MAILBOX,
    app_permission="MailboxSettings.Read",  # outlookuser-list-mastercategories.md
    delegated_permission="MailboxSettings.Read",
)

# A calendar view holds occurrences, never their series: each series an occurrence names is read
# whole once (with its recurrence pattern) into `events` as a row of type seriesMaster, again when
# one of its occurrences changes, and retired when no live occurrence names it any more.
EVENT_SERIES = StreamSpec(
    name="event_series",
    table="events",
    group="calendar",
    description="The series of recurring events (type seriesMaster, with their recurrence pattern).",
    kind=Kind.SINGLE,
    path="/users/{user_id}/events/{series_master_id}",
    root=Root.MAILBOX,
    parent=Parent("events", (("user_id", "user_id"), ("series_master_id", "series_master_id")), changed_only=True),
    scope_columns=(("series_master_id", "id"),),
    marks=("type", "seriesMaster"),
    app_permission="Calendars.Read",  # event-get.md
    delegated_permission="Calendars.Read",
)

EVENT_ATTACHMENTS = StreamSpec(
    name="event_attachments",
    table="event_attachments",
    group="calendar",
    description=("Attachment metadata of each event that has any (name, type, size; no content): read for "
                 "new and changed events only, and retired with the event."),
    kind=Kind.SNAPSHOT,
    path="/users/{user_id}/events/{event_id}/attachments",
    # contentBytes left out: metadata only (event-list-attachments.md; a 4 MB file would come inline).
    query="$select=id,name,contentType,size,isInline,lastModifiedDateTime",
    root=Root.MAILBOX,
    parent=Parent("events", (("user_id", "user_id"), ("event_id", "id")), changed_only=True,
                  only_if="has_attachments"),  # not of a series: its attachments are its occurrences'
    app_permission="Calendars.Read",  # event-list-attachments.md
    delegated_permission="Calendars.Read",
)

# Rooms and room lists are the tenant's (place-list.md: v1.0 reads them from /places; findRooms is
# beta). A signed-in person sees the same lists, so delegated reads take the union of what each sees.
ROOMS = StreamSpec(
    name="rooms",
    table="rooms",
    group="calendar",
    description="Every meeting room of the tenant, with its building, floor, capacity and devices (a snapshot).",
    kind=Kind.SNAPSHOT,
    path="/places/microsoft.graph.room",
    polling=Polling.DAILY,
    accounts=Accounts.UNION,
    app_permission="Place.Read.All",  # place-list.md
    delegated_permission="Place.Read.All",
)

ROOM_LISTS = replace(
    ROOMS,
    name="room_lists",
    table="room_lists",
    description="Every room list of the tenant (usually one per building), a snapshot.",
    path="/places/microsoft.graph.roomlist",
)

# -- files -----------------------------------------------------------------------------------------

DRIVES = StreamSpec(
    name="drives",
    table="drives",
    group="files",
    description="Each user's OneDrive (GET /users/{id}/drive); users without OneDrive have none.",
    kind=Kind.SINGLE,
    path="/users/{user_id}/drive",  # 404 when no OneDrive is provisioned for the user
    root=Root.MAILBOX,
    parent=_MAILBOX,
    scope_columns=(("user_id", "owner_user_id"),),
    app_permission="Files.Read.All",
    delegated_permission="Files.Read",
)

DRIVE_ITEMS = StreamSpec(
    name="drive_items",
    table="drive_items",
    group="files",
    description=("Every file and folder of each user's OneDrive (root delta; deletions arrive as the "
                 "`deleted` facet)."),
    kind=Kind.DELTA,
    # Root delta reports deletions with the `deleted` facet, and on a lost token a 410 whose Location
    # starts the enumeration over.
    path="/drives/{drive_id}/root/delta",
    root=Root.MAILBOX,
    parent=Parent("drives", (("drive_id", "id"),)),
    removal=Removal.DELETED_FACET,
    # driveitem-delta.md does not say a deleted folder's descendants are each reported (the simulator
    # reports them); tombstoning the stored subtree holds either way.
    removal_cascade="parent_id",
    page_size=200,
    app_permission="Files.Read.All",
    delegated_permission="Files.Read",
)

DRIVE_ITEM_PERMISSIONS = StreamSpec(
    name="drive_item_permissions",
    table="drive_item_permissions",
    group="files",
    description=("Who each file and folder is shared with (sharing links, people, inherited grants). Opt-in "
                 "(`sync --only drive_item_permissions`): one request per item the first time, then only "
                 "for items that changed; a deleted item's permissions are tombstoned with it."),
    kind=Kind.SNAPSHOT,  # no delta for permissions (driveitem-list-permissions.md)
    path="/drives/{drive_id}/items/{item_id}/permissions",
    root=Root.MAILBOX,
    # A change of sharing alone is in the drive's delta only when asked for, and that preference is
    # refused without the other two (driveitem-delta.md, "Scanning permissions hierarchies").
    parent=Parent("drive_items", (("drive_id", "drive_id"), ("item_id", "id")), changed_only=True,
                  prefer=("deltashowremovedasdeleted", "deltatraversepermissiongaps", "deltashowsharingchanges")),
    opt_in=True,
    app_permission="Files.Read.All",  # driveitem-list-permissions.md
    delegated_permission="Files.Read",
)

# -- Teams: chats ----------------------------------------------------------------------------------

CHATS = StreamSpec(
    name="chats",
    table="chats",
    group="teams",
    description=("Every chat of each user: one row per chat and member user; a chat the user left is "
                 "tombstoned for that user."),
    kind=Kind.SNAPSHOT,  # no delta for chats; app-only cannot list /chats, only each user's (chat-list.md)
    path="/users/{user_id}/chats",
    root=Root.MAILBOX,
    parent=_MAILBOX,
    query="$top=50",  # chat-list.md: at most 50
    page_size=50,
    polling=Polling.DAILY,
    app_permission="Chat.ReadBasic.All",
    delegated_permission="Chat.ReadBasic",
)

_CHAT = Parent("chats", (("chat_id", "id"),), shared=True)  # a chat is listed by each of its members

CHAT_MEMBERS = StreamSpec(
    name="chat_members",
    table="chat_members",
    group="teams",
    description="The members of every synced chat (a snapshot per chat each run).",
    kind=Kind.SNAPSHOT,
    path="/chats/{chat_id}/members",  # no OData options (chat-list-members.md)
    root=Root.CHAT,
    parent=_CHAT,
    polling=Polling.DAILY,
    app_permission="ChatMember.Read.All",
    delegated_permission="Chat.ReadBasic",  # chat-list-members.md
)

CHAT_MESSAGES = StreamSpec(
    name="chat_messages",
    table="chat_messages",
    group="teams",
    description=("Every message of every synced chat, read after a lastModifiedDateTime watermark; "
                 "soft-deleted messages are tombstoned."),
    kind=Kind.WATERMARK,  # no delta per chat in v1.0; $filter on lastModifiedDateTime with the same $orderby
    path="/chats/{chat_id}/messages",
    root=Root.CHAT,
    parent=_CHAT,
    query="$top=50",  # chat-list-messages.md: at most 50
    removal=Removal.DELETED_DATE_TIME,  # messages are soft-deleted and come back with deletedDateTime
    page_size=50,
    polling=Polling.DAILY,
    app_permission="Chat.Read.All",
    delegated_permission="Chat.Read",
)

# -- Teams: teams and channels ---------------------------------------------------------------------

TEAMS = StreamSpec(
    name="teams",
    table="teams",
    group="teams",
    description="Every team of the tenant, each read whole (GET /teams/{id}).",
    kind=Kind.SNAPSHOT,
    path="/teams",
    detail="/teams/{id}",  # the list holds only id, displayName and description (teams-list.md)
    polling=Polling.DAILY,
    app_permission="Team.ReadBasic.All",
    delegated_permission="Team.ReadBasic.All",
)

_TEAM = Parent("teams", (("team_id", "id"),))

TEAM_MEMBERS = StreamSpec(
    name="team_members",
    table="team_members",
    group="teams",
    description="The members of every team.",
    kind=Kind.SNAPSHOT,
    path="/teams/{team_id}/members",
    root=Root.TEAM,
    parent=_TEAM,
    polling=Polling.DAILY,
    app_permission="TeamMember.Read.All",
    delegated_permission="TeamMember.Read.All",
)

CHANNELS = StreamSpec(
    name="channels",
    table="channels",
    group="teams",
    description="Every channel of every team: standard, private and shared (allChannels).",
    kind=Kind.SNAPSHOT,
    path="/teams/{team_id}/allChannels",  # standard, private and shared channels (team-list-allchannels.md)
    root=Root.TEAM,
    parent=_TEAM,
    polling=Polling.DAILY,
    app_permission="Channel.ReadBasic.All",
    delegated_permission="Channel.ReadBasic.All",
)

_CHANNEL = Parent("channels", (("team_id", "team_id"), ("channel_id", "id")))

CHANNEL_MEMBERS = StreamSpec(
    name="channel_members",
    table="channel_members",
    group="teams",
    description="The members of every channel.",
    kind=Kind.SNAPSHOT,
    path="/teams/{team_id}/channels/{channel_id}/members",
    root=Root.TEAM,
    parent=_CHANNEL,
    polling=Polling.DAILY,
    # channel-list-members.md: the least tenant-wide ones (ChannelMember.Read.Group is per-team consent).
    app_permission="ChannelMember.Read.All",
    delegated_permission="Group.Read.All",
)

CHANNEL_MESSAGES = StreamSpec(
    name="channel_messages",
    table="channel_messages",
    group="teams",
    description=("Channel posts and their replies (reply_to_id set) through channel message delta: reply "
                 "chains changed in the last eight months (Graph's delta window)."),
    kind=Kind.DELTA,
    # Top-level posts whose reply chain changed, each with its replies (stored as rows with
    # reply_to_id); soft-deleted ones come back with deletedDateTime (chatmessage-delta.md).
    path="/teams/{team_id}/channels/{channel_id}/messages/delta",
    root=Root.TEAM,
    parent=_CHANNEL,
    query="$expand=replies&$top=50",
    nested="replies",
    removal=Removal.DELETED_DATE_TIME,
    page_size=50,
    polling=Polling.DAILY,
    app_permission="ChannelMessage.Read.All",
    delegated_permission="ChannelMessage.Read.All",
)

PLAN = Plan((USERS, MAIL_FOLDERS, MESSAGES, MESSAGE_ATTACHMENTS, CATEGORIES, EVENTS, EVENT_SERIES, EVENT_ATTACHMENTS,
             CALENDARS, CALENDAR_GROUPS, CALENDAR_PERMISSIONS, ROOMS, ROOM_LISTS, DRIVES, DRIVE_ITEMS,
             DRIVE_ITEM_PERMISSIONS, CHATS, CHAT_MEMBERS, CHAT_MESSAGES, TEAMS, TEAM_MEMBERS, CHANNELS,
             CHANNEL_MEMBERS, CHANNEL_MESSAGES))
STREAMS: dict[str, StreamSpec] = PLAN.streams

# -- delegated: the same tables, read as each signed-in person -------------------------------------
# A person sees their own profile, mail, calendar, drive and chats (through /me) and the teams they
# joined; everything below is the plan above. Rows are keyed exactly as app-only rows are.

ME = replace(
    USERS,
    description="The signed-in accounts' own profiles (GET /me), one row per account.",
    kind=Kind.SINGLE,
    path="/me",
    accounts=Accounts.EACH,
    scope_columns=(("user_id", "id"),),
    page_size=1,
)

JOINED_TEAMS = replace(
    TEAMS,
    description=("The teams the signed-in accounts are members of (GET /me/joinedTeams as each), each read "
                 "whole; a team none of them is in any more is tombstoned."),
    path="/me/joinedTeams",  # user-list-joinedteams.md: no OData query options, no paging
    accounts=Accounts.UNION,
)

DELEGATED_PLAN = PLAN.delegated((ME, JOINED_TEAMS))


def plan_for(delegated: bool) -> Plan:
    """The plan of an auth mode: app-only (tenant-wide) or delegated (signed-in accounts)."""
    return DELEGATED_PLAN if delegated else PLAN
