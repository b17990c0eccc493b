"""Teams: chats (per mailbox partition) and teams with their channels (tenant-wide).

Chats are read per user (`/users/{id}/chats`: app-only cannot list `/chats`), so they follow the
mailbox partitions; each chat's members and messages are read once, whichever member listed it.
Teams are tenant-wide: one run reads every team, its members, its channels (standard, private and
shared), their members and their messages (channel message delta, replies as rows).
"""

from pipelines.defs.families import FAMILIES, UNIQUE_KEY_CHECKS, family_tables

CHAT_TABLES = family_tables("teams", partitioned=True)
TEAM_TABLES = family_tables("teams", partitioned=False)

chats = FAMILIES[("teams", True)]
teams = FAMILIES[("teams", False)]
chat_messages_have_unique_keys = UNIQUE_KEY_CHECKS["chat_messages"]
channel_messages_have_unique_keys = UNIQUE_KEY_CHECKS["channel_messages"]
