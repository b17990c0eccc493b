"""One partition per mailbox: the Graph id of its owner, added by the mailbox sensor."""

import dagster as dg

mailboxes = dg.DynamicPartitionsDefinition(name="mailboxes")
