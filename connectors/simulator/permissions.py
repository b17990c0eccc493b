"""Which permission each route needs, as data, and Graph's 403 when a token lacks it.

One table, `RULES`: (methods, route pattern glob) -> `Need` (workload, accepted delegated scopes,
accepted application roles). The first rule whose methods and glob match the matched route's
pattern wins. Each tuple lists the least privileged permission first and the higher ones that also
satisfy it, as the "Permissions" table of the cited page in microsoftgraph/microsoft-graph-docs-contrib
`api-reference/v1.0/api/*.md` does. Application Outlook permissions have no `.All` suffix
(`Mail.Read`), the others do (`Files.Read.All`) (concepts/permissions-reference.md).

Where Graph documents a call as *not supported* with one permission type but the simulator's own
tests drive it that way (findMeetingTimes and sharedWithMe app-only, getAllMessages delegated), the
rule accepts the nearest permission and the handler keeps its own answer; these are marked below.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from connectors.simulator.http import ApiError, Principal

OUTLOOK, DIRECTORY, TEAMS, ONEDRIVE = "outlook", "directory", "teams", "onedrive"


@dataclass(frozen=True)
class Need:
    workload: str
    delegated: tuple[str, ...]
    application: tuple[str, ...]
    doc: str  # the api-reference page whose Permissions table this is

    def accepted(self, principal: Principal) -> tuple[str, ...]:
        return self.application if principal.user_id is None else self.delegated

    def satisfied_by(self, principal: Principal) -> bool:
        return any(p in principal.permissions for p in self.accepted(principal))


@dataclass(frozen=True)
class Rule:
    methods: frozenset[str]
    glob: str  # over the route pattern, lower-case, e.g. "users/{user}/messages*"
    need: Need


READ, WRITE = frozenset({"GET"}), frozenset({"POST", "PATCH", "PUT", "DELETE"})
ANY = READ | WRITE

# -- permission sets, least privileged first ---------------------------------------------------------
_MAIL_READ = Need(OUTLOOK, ("Mail.ReadBasic", "Mail.Read", "Mail.ReadWrite"),
                  ("Mail.ReadBasic.All", "Mail.Read", "Mail.ReadWrite"), "user-list-messages.md")
_MAIL_BODY = Need(OUTLOOK, ("Mail.Read", "Mail.ReadWrite"), ("Mail.Read", "Mail.ReadWrite"),
                  "message-list-attachments.md")
_MAIL_WRITE = Need(OUTLOOK, ("Mail.ReadWrite",), ("Mail.ReadWrite",), "user-post-messages.md")
_MAIL_SEND = Need(OUTLOOK, ("Mail.Send",), ("Mail.Send",), "user-sendmail.md")
_CATEGORIES_READ = Need(OUTLOOK, ("MailboxSettings.Read", "MailboxSettings.ReadWrite"),
                        ("MailboxSettings.Read", "MailboxSettings.ReadWrite"),
                        "outlookuser-list-mastercategories.md")
_CATEGORIES_WRITE = Need(OUTLOOK, ("MailboxSettings.ReadWrite",), ("MailboxSettings.ReadWrite",),
                         "outlookuser-post-mastercategories.md")
_CAL_READ = Need(OUTLOOK, ("Calendars.ReadBasic", "Calendars.Read", "Calendars.ReadWrite"),
                 ("Calendars.ReadBasic", "Calendars.Read", "Calendars.ReadWrite"), "user-list-events.md")
_CAL_FULL = Need(OUTLOOK, ("Calendars.Read", "Calendars.ReadWrite"), ("Calendars.Read", "Calendars.ReadWrite"),
                 "calendar-list-calendarpermissions.md")
_CAL_WRITE = Need(OUTLOOK, ("Calendars.ReadWrite",), ("Calendars.ReadWrite",), "user-post-events.md")
# Documented app-only: "Not supported"; accepted here (Calendars.Read) so app-only callers keep working.
_MEETING_TIMES = Need(OUTLOOK, ("Calendars.Read.Shared", "Calendars.ReadWrite.Shared"),
                      ("Calendars.Read", "Calendars.ReadWrite"), "user-findmeetingtimes.md")
_ROOMS = Need(OUTLOOK, ("User.ReadBasic.All", "User.Read.All"), ("Place.Read.All",), "user-findrooms.md")
_PLACES = Need(OUTLOOK, ("Place.Read.All",), ("Place.Read.All",), "place-list.md")
_PLACES_WRITE = Need(OUTLOOK, ("Place.ReadWrite.All",), ("Place.ReadWrite.All",), "place-update.md")

_USERS_LIST = Need(DIRECTORY, ("User.ReadBasic.All", "User.Read.All", "User.ReadWrite.All", "Directory.Read.All",
                               "Directory.ReadWrite.All"),
                   ("User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"),
                   "user-list.md")
_USER_GET = Need(DIRECTORY, ("User.Read", "User.ReadWrite", *_USERS_LIST.delegated), _USERS_LIST.application,
                 "user-get.md")
_USERS_WRITE = Need(DIRECTORY, ("User.ReadWrite.All", "Directory.ReadWrite.All"),
                    ("User.ReadWrite.All", "Directory.ReadWrite.All"), "user-post-users.md")
_GROUPS_READ = Need(DIRECTORY, ("GroupMember.Read.All", "Group.Read.All", "Directory.Read.All", "Group.ReadWrite.All",
                                "Directory.ReadWrite.All"),
                    ("GroupMember.Read.All", "Group.Read.All", "Directory.Read.All", "Group.ReadWrite.All",
                     "Directory.ReadWrite.All"), "group-list.md")
_GROUPS_WRITE = Need(DIRECTORY, ("Group.ReadWrite.All", "Directory.ReadWrite.All"),
                     ("Group.ReadWrite.All", "Directory.ReadWrite.All"), "group-delete.md")

_FILES_READ = Need(ONEDRIVE, ("Files.Read", "Files.ReadWrite", "Files.Read.All", "Files.ReadWrite.All",
                              "Sites.Read.All", "Sites.ReadWrite.All"),
                   ("Files.Read.All", "Files.ReadWrite.All", "Sites.Read.All", "Sites.ReadWrite.All"),
                   "driveitem-list-children.md")
# Documented app-only: "Not supported". Accepted here (Files.Read.All) so the handler answers what Graph
# was observed to answer app-only callers: 200 with an empty value (drive_views.py).
_SHARED = Need(ONEDRIVE, ("Files.Read.All", "Files.ReadWrite.All", "Sites.Read.All", "Sites.ReadWrite.All"),
               _FILES_READ.application, "drive-sharedwithme.md")
_RECENT = Need(ONEDRIVE, ("Files.Read", "Files.Read.All", "Files.ReadWrite", "Files.ReadWrite.All", "Sites.Read.All",
                          "Sites.ReadWrite.All"), _FILES_READ.application, "drive-recent.md")
_FILES_WRITE = Need(ONEDRIVE, ("Files.ReadWrite", "Files.ReadWrite.All", "Sites.ReadWrite.All"),
                    ("Files.ReadWrite.All", "Sites.ReadWrite.All"), "driveitem-put-content.md")

_TEAM_READ = ("Team.ReadBasic.All", "TeamSettings.Read.All", "TeamSettings.ReadWrite.All", "Group.Read.All",
              "Directory.Read.All", "Group.ReadWrite.All", "Directory.ReadWrite.All")
_TEAMS_READ = Need(TEAMS, _TEAM_READ, _TEAM_READ, "team-get.md")
_TEAMS_CREATE = Need(TEAMS, ("Team.Create", "Group.ReadWrite.All", "Directory.ReadWrite.All"),
                     ("Team.Create", "Teamwork.Migrate.All", "Group.ReadWrite.All", "Directory.ReadWrite.All"),
                     "team-post.md")
_TEAM_SETTINGS = ("TeamSettings.ReadWrite.All", "Group.ReadWrite.All", "Directory.ReadWrite.All")
_TEAMS_WRITE = Need(TEAMS, _TEAM_SETTINGS, _TEAM_SETTINGS, "team-update.md")
_TEAM_MEMBERS = Need(TEAMS, ("TeamMember.Read.All", "TeamMember.ReadWrite.All"),
                     ("TeamMember.Read.All", "TeamMember.ReadWrite.All"), "team-list-members.md")
_TEAM_MEMBERS_WRITE = Need(TEAMS, ("TeamMember.ReadWrite.All",), ("TeamMember.ReadWrite.All",),
                           "team-post-members.md")
_CHANNEL = ("Channel.ReadBasic.All", "ChannelSettings.Read.All", "ChannelSettings.ReadWrite.All", "Group.Read.All",
            "Directory.Read.All", "Group.ReadWrite.All", "Directory.ReadWrite.All")
_CHANNELS_READ = Need(TEAMS, _CHANNEL, _CHANNEL, "channel-list.md")
_CHANNELS_CREATE = Need(TEAMS, ("Channel.Create", "Group.ReadWrite.All", "Directory.ReadWrite.All"),
                        ("Channel.Create", "Teamwork.Migrate.All", "Group.ReadWrite.All", "Directory.ReadWrite.All"),
                        "channel-post.md")
_CHANNELS_WRITE = Need(TEAMS, ("ChannelSettings.ReadWrite.All", "Channel.Delete.All", "Group.ReadWrite.All"),
                       ("ChannelSettings.ReadWrite.All", "Channel.Delete.All", "Group.ReadWrite.All"),
                       "channel-patch.md")
_CHANNEL_MEMBERS = Need(TEAMS, ("Group.Read.All", "ChannelMember.Read.All", "ChannelMember.ReadWrite.All",
                                "Group.ReadWrite.All"),
                        ("ChannelMember.Read.All", "ChannelMember.ReadWrite.All"), "channel-list-members.md")
_CHANNEL_MEMBERS_WRITE = Need(TEAMS, ("ChannelMember.ReadWrite.All",), ("ChannelMember.ReadWrite.All",),
                              "channel-post-members.md")
_CHANNEL_MESSAGES = Need(TEAMS, ("ChannelMessage.Read.All", "ChannelMessage.ReadWrite"),
                         ("ChannelMessage.Read.All",), "channel-list-messages.md")
# Application permissions post only in migration mode (channel-post-messages.md).
_CHANNEL_POST = Need(TEAMS, ("ChannelMessage.Send", "Group.ReadWrite.All"), ("Teamwork.Migrate.All",),
                     "channel-post-messages.md")
# chatmessage-update.md, "Permissions for channel": application permissions update policyViolation only.
_CHANNEL_MESSAGE_EDIT = Need(TEAMS, ("ChannelMessage.ReadWrite", "Group.ReadWrite.All"),
                             ("ChannelMessage.UpdatePolicyViolation.All", "Group.ReadWrite.All"),
                             "chatmessage-update.md")
_CHATS_READ = Need(TEAMS, ("Chat.ReadBasic", "Chat.Read", "Chat.ReadWrite"),
                   ("Chat.ReadBasic.All", "Chat.Read.All", "Chat.ReadWrite.All"), "chat-list.md")
_CHAT_MESSAGES = Need(TEAMS, ("Chat.Read", "Chat.ReadWrite"), ("Chat.Read.All", "Chat.ReadWrite.All"),
                      "chat-list-messages.md")
# Documented delegated: "Not supported"; accepted here so the handler answers as Graph does (412).
_ALL_MESSAGES = Need(TEAMS, ("Chat.Read", "Chat.ReadWrite"), ("Chat.Read.All", "Chat.ReadWrite.All"),
                     "chats-getallmessages.md")
_CHAT_MEMBERS = Need(TEAMS, ("ChatMember.Read", "ChatMember.ReadWrite", "Chat.ReadBasic", "Chat.Read",
                             "Chat.ReadWrite"),
                     ("ChatMember.Read.All", "ChatMember.ReadWrite.All", "Chat.ReadBasic.All", "Chat.Read.All",
                      "Chat.ReadWrite.All"), "chat-list-members.md")
_CHAT_MEMBERS_WRITE = Need(TEAMS, ("ChatMember.ReadWrite", "Chat.ReadWrite"),
                           ("ChatMember.ReadWrite.All", "Chat.ReadWrite.All"), "chat-post-members.md")
_CHATS_CREATE = Need(TEAMS, ("Chat.Create", "Chat.ReadWrite"), ("Chat.Create", "Teamwork.Migrate.All"),
                     "chat-post.md")
_CHATS_WRITE = Need(TEAMS, ("Chat.ReadWrite",), ("Chat.ReadWrite.All",), "chat-patch.md")
# Application permissions post only in migration mode (chat-post-messages.md).
_CHAT_POST = Need(TEAMS, ("ChatMessage.Send", "Chat.ReadWrite"), ("Teamwork.Migrate.All",),
                  "chat-post-messages.md")
_CHAT_MESSAGE_EDIT = Need(TEAMS, ("Chat.ReadWrite",), ("Chat.UpdatePolicyViolation.All", "Chat.ReadWrite.All"),
                          "chatmessage-update.md")
# softDelete / undoSoftDelete: delegated only ("Application: Not supported"), one table per container.
_CHAT_SOFT_DELETE = Need(TEAMS, ("Chat.ReadWrite",), (), "chatmessage-softdelete.md")
_CHANNEL_SOFT_DELETE = Need(TEAMS, ("ChannelMessage.ReadWrite",), (), "chatmessage-softdelete.md")


def _r(methods: frozenset[str], glob: str, need: Need) -> Rule:
    return Rule(methods, glob.lower(), need)


U = "users/{user}"
RULES: tuple[Rule, ...] = (
    # -- Outlook mail --------------------------------------------------------------------------------
    # attachment-get.md / message-list-attachments.md: Mail.Read (not ReadBasic) for attachments and $value.
    _r(READ, f"{U}/messages/{{message}}/attachments*", _MAIL_BODY),
    _r(READ, f"{U}/messages*", _MAIL_READ),
    _r(READ, f"{U}/mailfolders*", _MAIL_READ),
    _r(frozenset({"POST"}), f"{U}/messages/{{message}}/send", _MAIL_SEND),
    _r(frozenset({"POST"}), f"{U}/messages/{{message}}/reply", _MAIL_SEND),
    _r(frozenset({"POST"}), f"{U}/messages/{{message}}/replyall", _MAIL_SEND),
    _r(frozenset({"POST"}), f"{U}/messages/{{message}}/forward", _MAIL_SEND),
    _r(frozenset({"POST"}), f"{U}/sendmail", _MAIL_SEND),
    _r(WRITE, f"{U}/messages*", _MAIL_WRITE),
    _r(WRITE, f"{U}/mailfolders*", _MAIL_WRITE),
    _r(READ, f"{U}/outlook/mastercategories*", _CATEGORIES_READ),
    _r(WRITE, f"{U}/outlook/mastercategories*", _CATEGORIES_WRITE),
    # -- Outlook calendar ----------------------------------------------------------------------------
    # attachment-get.md: Calendars.Read, through every address of the event (`*` spans calendar paths).
    _r(READ, f"{U}/*events/{{event}}/attachments*", _CAL_FULL),
    _r(READ, f"{U}/calendar/calendarpermissions*", _CAL_FULL),
    _r(READ, f"{U}/calendars/{{calendar}}/calendarpermissions*", _CAL_FULL),
    _r(frozenset({"POST"}), f"{U}/calendar/getschedule", _CAL_READ),
    _r(frozenset({"POST"}), f"{U}/findmeetingtimes", _MEETING_TIMES),
    _r(READ, f"{U}/findroom*", _ROOMS),
    _r(READ, "places*", _PLACES),
    _r(WRITE, "places*", _PLACES_WRITE),
    _r(READ, f"{U}/calendar*", _CAL_READ),
    _r(READ, f"{U}/events*", _CAL_READ),
    _r(WRITE, f"{U}/calendar*", _CAL_WRITE),
    _r(WRITE, f"{U}/events*", _CAL_WRITE),
    # -- OneDrive ------------------------------------------------------------------------------------
    _r(READ, f"{U}/drive/sharedwithme", _SHARED),
    _r(READ, "drives/{drive}/sharedwithme", _SHARED),
    _r(READ, f"{U}/drive/recent", _RECENT),
    _r(READ, "drives/{drive}/recent", _RECENT),
    _r(READ, f"{U}/drive*", _FILES_READ),
    _r(READ, "drives*", _FILES_READ),
    _r(WRITE, f"{U}/drive*", _FILES_WRITE),
    _r(WRITE, "drives*", _FILES_WRITE),
    # -- Teams: chats ----------------------------------------------------------------------------------
    _r(frozenset({"POST"}), f"{U}/chats/{{chat}}/messages/{{message}}/softdelete", _CHAT_SOFT_DELETE),
    _r(frozenset({"POST"}), f"{U}/chats/{{chat}}/messages/{{message}}/undosoftdelete", _CHAT_SOFT_DELETE),
    _r(READ, f"{U}/chats/getallmessages", _ALL_MESSAGES),
    _r(READ, "chats/getallmessages", _ALL_MESSAGES),
    _r(READ, f"{U}/chats/{{chat}}/messages*", _CHAT_MESSAGES),
    _r(READ, "chats/{chat}/messages*", _CHAT_MESSAGES),
    _r(READ, f"{U}/chats/{{chat}}/members*", _CHAT_MEMBERS),
    _r(READ, "chats/{chat}/members*", _CHAT_MEMBERS),
    _r(READ, f"{U}/chats*", _CHATS_READ),
    _r(READ, "chats*", _CHATS_READ),
    _r(frozenset({"POST"}), "chats/{chat}/messages", _CHAT_POST),
    _r(WRITE, "chats/{chat}/messages/*", _CHAT_MESSAGE_EDIT),
    _r(WRITE, "chats/{chat}/members*", _CHAT_MEMBERS_WRITE),
    _r(frozenset({"POST"}), "chats", _CHATS_CREATE),
    _r(WRITE, "chats/{chat}", _CHATS_WRITE),
    # -- Teams: teams and channels -----------------------------------------------------------------
    _r(READ, f"{U}/joinedteams", Need(TEAMS, _TEAM_READ, _TEAM_READ, "user-list-joinedteams.md")),
    _r(READ, "teams/{team}/members*", _TEAM_MEMBERS),
    _r(WRITE, "teams/{team}/members*", _TEAM_MEMBERS_WRITE),
    _r(READ, "teams/{team}/channels/{channel}/members*", _CHANNEL_MEMBERS),
    _r(WRITE, "teams/{team}/channels/{channel}/members*", _CHANNEL_MEMBERS_WRITE),
    _r(READ, "teams/{team}/channels/{channel}/messages*", _CHANNEL_MESSAGES),
    _r(frozenset({"POST"}), "teams/{team}/channels/{channel}/messages", _CHANNEL_POST),
    _r(frozenset({"POST"}), "teams/{team}/channels/{channel}/messages/{message}/replies", _CHANNEL_POST),
    _r(frozenset({"POST"}), "teams/{team}/channels/{channel}/messages/*softdelete", _CHANNEL_SOFT_DELETE),
    _r(WRITE, "teams/{team}/channels/{channel}/messages/*", _CHANNEL_MESSAGE_EDIT),
    _r(READ, "teams/{team}/channels*", _CHANNELS_READ),
    _r(READ, "teams/{team}/allchannels*", _CHANNELS_READ),
    _r(frozenset({"POST"}), "teams/{team}/channels", _CHANNELS_CREATE),
    _r(WRITE, "teams/{team}/channels/{channel}", _CHANNELS_WRITE),
    _r(READ, "teams*", _TEAMS_READ),
    _r(frozenset({"POST"}), "teams", _TEAMS_CREATE),
    _r(WRITE, "teams/{team}*", _TEAMS_WRITE),
    # -- Directory -----------------------------------------------------------------------------------
    _r(READ, "groups*", _GROUPS_READ),
    _r(WRITE, "groups*", _GROUPS_WRITE),
    # organization-get.md: delegated User.Read least privileged; application Organization.Read.All.
    _r(READ, "organization*", Need(DIRECTORY, ("User.Read", "Organization.Read.All", "Directory.Read.All",
                                               "Organization.ReadWrite.All", "Directory.ReadWrite.All"),
                                   ("Organization.Read.All", "Directory.Read.All", "Organization.ReadWrite.All",
                                    "Directory.ReadWrite.All"), "organization-get.md")),
    _r(READ, "users", _USERS_LIST),
    # user-delta.md: delegated least User.Read (higher: User.ReadBasic.All, User.ReadWrite, User.Read.All...).
    _r(READ, "users/delta", Need(DIRECTORY, ("User.Read", "User.ReadWrite", *_USERS_LIST.delegated),
                                 _USERS_LIST.application, "user-delta.md")),
    _r(READ, U, _USER_GET),
    _r(frozenset({"PATCH"}), U, Need(DIRECTORY, ("User.ReadWrite", *_USERS_WRITE.delegated),
                                     _USERS_WRITE.application, "user-update.md")),
    # user-delete.md (current page): User.DeleteRestore.All least privileged, then User.ReadWrite.All.
    _r(frozenset({"DELETE"}), U, Need(DIRECTORY, ("User.DeleteRestore.All", *_USERS_WRITE.delegated),
                                      ("User.DeleteRestore.All", *_USERS_WRITE.application), "user-delete.md")),
    _r(WRITE, "users*", _USERS_WRITE),
)


def need_of(method: str, pattern: str) -> Need | None:
    """The rule for a matched route (its pattern as registered, e.g. "users/{user}/messages")."""
    key = pattern.lower()
    for rule in RULES:
        if method in rule.methods and fnmatchcase(key, rule.glob):
            return rule.need
    return None


def application_permissions() -> frozenset[str]:
    """Every application role the table knows: what an app-only token carries by default."""
    return frozenset(p for rule in RULES for p in rule.need.application)


def delegated_permissions() -> frozenset[str]:
    """Every delegated scope the table knows: what `.default` asks for in a delegated request."""
    return frozenset(p for rule in RULES for p in rule.need.delegated)


def enforce(method: str, pattern: str, principal: Principal | None) -> None:
    need = need_of(method, pattern)
    if need is None or principal is None or need.satisfied_by(principal):
        return
    raise denial(need, principal)


def denial(need: Need, principal: Principal) -> ApiError:
    """Graph's 403 for a missing permission, per workload; 412 for a Teams API that has no
    application permission at all, called app-only."""
    if need.workload == TEAMS and principal.user_id is None and not need.application:
        # The Permissions table says "Application: Not supported" (chatmessage-softdelete.md,
        # chatmessage-undosoftdelete.md). Teams answers such calls 412 PreconditionFailed "Requested API
        # is not supported in application-only context" (observed: microsoftgraph/microsoft-graph-docs#17168).
        return ApiError(412, "PreconditionFailed", "Requested API is not supported in application-only context")
    if need.workload == OUTLOOK:
        # concepts/errors.md and the Outlook pages: ErrorAccessDenied, "Access is denied. Check
        # credentials and try again." (graph-semantics.md §7, as Exchange answers).
        return ApiError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
    if need.workload == DIRECTORY:
        # concepts/errors.md / the directory API pages (json-batching.md's example body):
        # Authorization_RequestDenied, "Insufficient privileges to complete the operation."
        return ApiError(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
    if need.workload == ONEDRIVE:
        # concepts/errors.md, Code property: accessDenied, "The caller doesn't have permission to
        # perform the action." (OneDrive's own error codes are the ones that page lists).
        return ApiError(403, "accessDenied", "The caller doesn't have permission to perform the action.")
    # Teams: code Forbidden. The docs name the status only (concepts/errors.md: 403 Forbidden); the
    # message is the one Teams sends, as quoted in Microsoft Q&A and community threads: "Missing role
    # permissions on the request. API requires one of '...'. Roles on the request '...'." (app-only),
    # "Missing scope permissions ... Scopes on the request '...'." (delegated).
    kind, label = ("role", "Roles") if principal.user_id is None else ("scope", "Scopes")
    held = ", ".join(sorted(principal.permissions))
    return ApiError(403, "Forbidden", f"Missing {kind} permissions on the request. API requires one of "
                                      f"'{', '.join(need.accepted(principal))}'. {label} on the request '{held}'.")
