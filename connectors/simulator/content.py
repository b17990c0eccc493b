"""Deterministic, lazily generated tenant content.

Every object is a pure function of (tenant seed, its coordinates), so the same seed always yields
the same tenant and nothing is generated before a client asks for it. A cheap integer hash stands in
for a random generator: creating a `random.Random` per message would dominate serving time.
"""

from __future__ import annotations

import base64
import os
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from connectors.simulator import ids

NOW_ENV = "GRAPHSYNC_SIM_NOW"  # an ISO time ("2026-12-02T09:00:00Z") to seed the tenant as of
DOMAIN = "contoso.com"


def seed_epoch(now: datetime | None = None) -> datetime:
    """The seeded tenant's "now": seeded mail, events, files, chats and posts lie before (and
    calendars around) it, so date windows relative to today ("the last 30 days") find data.

    `now` when given, else $GRAPHSYNC_SIM_NOW, else the current UTC time, floored to the hour: the same
    hour always seeds the same tenant, and the epoch never lies after the real clock, so objects written
    through the API sort after the seeded ones.
    """
    if now is None:
        raw = os.environ.get(NOW_ENV, "").strip()
        now = datetime.fromisoformat(raw.replace("Z", "+00:00")) if raw else datetime.now(UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)

FIRST = ["Adele", "Alex", "Allan", "Diego", "Grady", "Henrietta", "Isaiah", "Johanna", "Joni", "Lee",
         "Lidia", "Lynne", "Megan", "Miriam", "Nestor", "Patti", "Pradeep", "Irvin", "Debra", "Christie"]
LAST = ["Vance", "Wilber", "Deyoung", "Zamora", "Archie", "Mueller", "Langer", "Lauer", "Sherman", "Gu",
        "Holloway", "Robbins", "Bowen", "Graham", "Wilke", "Fernandez", "Gupta", "Sink", "Berg", "Cline"]
DEPARTMENTS = ["Finance", "Sales", "Engineering", "Legal", "Marketing", "Operations", "HR", "Research"]
TITLES = ["Analyst", "Manager", "Engineer", "Director", "Consultant", "Specialist", "Counsel"]
CITIES = ["Seattle", "Redmond", "Dublin", "Munich", "Singapore", "Sydney", "Toronto"]
SUBJECTS = ["Q{q} budget review", "Re: Invoice #{n}", "Project Falcon status update", "Lunch on {day}?",
            "FW: Contract draft v{v}", "Weekly metrics for {day}", "Action required: expense report {n}",
            "Customer escalation {n}", "Offsite agenda", "Re: Re: Hiring plan {q}", "Design review notes",
            "Your order {n} has shipped", "Security alert: new sign-in", "Release {v}.{q} notes"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
PARAGRAPHS = [
    "Thanks for the quick turnaround on this. I have gone through the numbers and they look right to me.",
    "Can we find thirty minutes this week to walk through the open items before the steering meeting?",
    "Attached is the latest version. The changes since last time are highlighted in the summary table.",
    "Please review and approve by end of day; finance needs the figures for the month-end close.",
    "The customer reported the issue again this morning. Support has a workaround but wants a fix date.",
    "Following up on our conversation: the vendor agreed to the revised terms and the new pricing.",
    "Reminder that the office will be closed on Friday. Plan deliveries and travel accordingly.",
    "Here are my notes from the workshop. Key decisions are in bold; open questions are at the end.",
]
CATEGORY_PRESETS = [("Red category", "preset0"), ("Orange category", "preset1"), ("Yellow category", "preset3"),
                    ("Green category", "preset4"), ("Blue category", "preset7"), ("Purple category", "preset8")]


def mix(*values: int) -> int:
    """SplitMix64 over the arguments: a fast, well-spread deterministic hash."""
    x = 0x9E3779B97F4A7C15
    for v in values:
        x = (x ^ (v & 0xFFFFFFFFFFFFFFFF)) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
        x = (x ^ (x >> 27)) * 0x94D049BB133111EB & 0xFFFFFFFFFFFFFFFF
        x ^= x >> 31
    return x


def stable_hash(text: str) -> int:
    """Python's hash() of a str changes between processes; seeded data must not."""
    return zlib.crc32(text.encode())


def iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def etag(seq: int, key: str) -> tuple[str, str]:
    """A change key and the matching @odata.etag, both changing on every write."""
    change_key = base64.b64encode(f"CQAAABYAAAB{mix(seq, stable_hash(key)) % 10**12:012d}".encode()).decode()[:24]
    return change_key, f'W/"{change_key}"'


@dataclass(frozen=True)
class Scale:
    users: int
    messages_per_mailbox: int
    events_per_calendar: int = 24
    files_per_drive: int = 12
    teams: int = 2
    chats_per_user: int = 2
    messages_per_thread: int = 6


SCALES: dict[str, Scale] = {
    "tiny": Scale(users=3, messages_per_mailbox=20, events_per_calendar=6, files_per_drive=5),
    "small": Scale(users=5, messages_per_mailbox=200),
    "medium": Scale(users=20, messages_per_mailbox=2000),
    "large": Scale(users=50, messages_per_mailbox=2000),
    "huge": Scale(users=500, messages_per_mailbox=2000),  # 1,000,000 messages
}


def email_address(name: str, address: str) -> dict:
    return {"emailAddress": {"name": name, "address": address}}


@dataclass(frozen=True)
class Person:
    index: int
    id: str
    given: str
    surname: str

    @property
    def display_name(self) -> str:
        return f"{self.given} {self.surname}"

    @property
    def upn(self) -> str:
        return f"{self.given.lower()}.{self.surname.lower()}{self.index}@{DOMAIN}"

    def recipient(self) -> dict:
        return email_address(self.display_name, self.upn)


def person(seed: int, index: int) -> Person:
    h = mix(seed, index, 1)
    return Person(index, ids.guid(seed, "user", index), FIRST[h % len(FIRST)], LAST[(h >> 8) % len(LAST)])


def user_object(seed: int, index: int, epoch: datetime) -> dict:
    p = person(seed, index)
    h = mix(seed, index, 2)
    return {
        "@odata.type": "#microsoft.graph.user",
        "id": p.id,
        "displayName": p.display_name,
        "givenName": p.given,
        "surname": p.surname,
        "userPrincipalName": p.upn,
        "mail": p.upn,
        "jobTitle": TITLES[h % len(TITLES)],
        "department": DEPARTMENTS[(h >> 4) % len(DEPARTMENTS)],
        "officeLocation": f"{CITIES[(h >> 8) % len(CITIES)]}/{(h >> 12) % 40 + 1}",
        "mobilePhone": f"+1 425 555 {(h >> 16) % 10000:04d}",
        "businessPhones": [f"+1 425 555 {(h >> 24) % 10000:04d}"],
        "preferredLanguage": "en-US",
        "accountEnabled": True,
        "createdDateTime": iso(epoch - timedelta(days=400 + (h >> 32) % 900)),
    }


# -- mail ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FolderSeed:
    key: str  # stable short name; "inbox", "projects"...
    display_name: str
    parent: str | None  # parent folder key; None = the mailbox root ("msgfolderroot")
    share: float  # fraction of the mailbox's seeded messages


FOLDERS = [
    FolderSeed("inbox", "Inbox", None, 0.55),
    FolderSeed("drafts", "Drafts", None, 0.01),
    FolderSeed("sentitems", "Sent Items", None, 0.15),
    FolderSeed("deleteditems", "Deleted Items", None, 0.02),
    FolderSeed("archive", "Archive", None, 0.10),
    FolderSeed("junkemail", "Junk Email", None, 0.02),
    FolderSeed("outbox", "Outbox", None, 0.0),
    FolderSeed("projects", "Projects", "inbox", 0.06),
    FolderSeed("alpha", "Alpha", "projects", 0.04),
    FolderSeed("receipts", "Receipts", "inbox", 0.05),
]
WELL_KNOWN = {"inbox", "drafts", "sentitems", "deleteditems", "archive", "junkemail", "outbox", "msgfolderroot"}


def folder_counts(total: int) -> dict[str, int]:
    """Messages seeded per folder, summing exactly to `total`."""
    counts = {f.key: int(total * f.share) for f in FOLDERS}
    counts["inbox"] += total - sum(counts.values())
    return counts


def folder_id(user_id: str, folder_key: str) -> str:
    return ids.opaque("folder", user_id, folder_key)


def message_key(user_index: int, folder_key: str, index: int) -> str:
    return f"m.{user_index}.{folder_key}.{index}"


def _body_html(h: int, sender: str) -> str:
    n = 2 + h % 9  # 2-10 paragraphs: bodies from ~0.5 KB to ~3 KB
    paras = "".join(f"<p>{PARAGRAPHS[(h >> (3 * k)) % len(PARAGRAPHS)]}</p>" for k in range(n))
    return (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"></head>'
        f'<body><div style="font-family:Calibri,sans-serif;font-size:11pt">{paras}'
        f"<p>Best regards,<br>{sender}</p></div></body></html>"
    )


def message_object(seed: int, owner: Person, folder_key: str, index: int, user_count: int,
                   epoch: datetime) -> dict:
    """The seeded message `index` of a folder, before its id is rendered (see the mail module)."""
    h = mix(seed, owner.index, stable_hash(folder_key), index)
    sender = person(seed, h % max(user_count, 1)) if folder_key != "sentitems" else owner
    to = [owner.recipient()] if folder_key != "sentitems" else [person(seed, (h >> 7) % 997).recipient()]
    cc = [person(seed, (h >> 11) % 997).recipient()] if h % 4 == 0 else []
    received = epoch - timedelta(minutes=7 * index + (h % 5), seconds=h % 60)
    subject = SUBJECTS[(h >> 5) % len(SUBJECTS)].format(
        q=1 + h % 4, n=1000 + h % 9000, day=DAYS[h % 5], v=1 + (h >> 9) % 9
    )
    body = _body_html(h >> 13, sender.display_name)
    has_attachments = h % 10 == 0
    key = message_key(owner.index, folder_key, index)
    change_key, tag = etag(0, key)
    created = iso(received)
    return {
        "@odata.type": "#microsoft.graph.message",
        "@odata.etag": tag,
        "createdDateTime": created,
        "lastModifiedDateTime": created,
        "changeKey": change_key,
        "categories": ["Blue category"] if h % 9 == 0 else [],
        "receivedDateTime": created,
        "sentDateTime": iso(received - timedelta(seconds=3 + h % 40)),
        "hasAttachments": has_attachments,
        "internetMessageId": f"<{mix(seed, h) % 10**15}@{DOMAIN}>",
        "subject": subject,
        "bodyPreview": PARAGRAPHS[(h >> 13) % len(PARAGRAPHS)][:255],
        "importance": "high" if h % 17 == 0 else "normal",
        "parentFolderId": folder_id(owner.id, folder_key),
        "conversationId": ids.opaque("conv", owner.index, h % 500),
        "isDeliveryReceiptRequested": False,
        "isReadReceiptRequested": False,
        "isRead": folder_key == "sentitems" or h % 10 < 7,
        "isDraft": folder_key == "drafts",
        "webLink": f"https://outlook.office365.com/owa/?ItemID={key}&exvsurl=1&viewmodel=ReadMessageItem",
        "inferenceClassification": "focused" if h % 3 else "other",
        "body": {"contentType": "html", "content": body},
        "sender": sender.recipient(),
        "from": sender.recipient(),
        "toRecipients": to,
        "ccRecipients": cc,
        "bccRecipients": [],
        "replyTo": [],
        "flag": {"flagStatus": "flagged" if h % 23 == 0 else "notFlagged"},
    }
