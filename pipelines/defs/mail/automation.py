"""Keeping mailbox partitions current and syncing them in batches."""


import dagster as dg

from connectors.graph.delegated import signed_in
from pipelines.defs.families import scheduled
from pipelines.partitions import mailboxes
from pipelines.resources import GraphResource, WarehouseResource
from pipelines.sync.plan import Polling
from warehouse import WarehouseLocked

BATCH_SIZE = 25  # mailboxes per run: amortises run start-up without one run per mailbox

# Jobs by cadence (the plan's `polling`): Teams data may be polled once a day, the rest hourly.
sync_mailboxes = dg.define_asset_job(
    "sync_mailboxes", selection=dg.AssetSelection.assets(*scheduled(partitioned=True, polling=Polling.HOURLY)),
    partitions_def=mailboxes,
    description="Mail, calendar and files of a batch of mailboxes (one partition range per run), hourly.",
)
sync_chats = dg.define_asset_job(
    "sync_chats", selection=dg.AssetSelection.assets(*scheduled(partitioned=True, polling=Polling.DAILY)),
    partitions_def=mailboxes,
    description="The chats of a batch of mailboxes, their members and messages, daily (Teams' polling rule).",
)
sync_teams = dg.define_asset_job(
    "sync_teams", selection=dg.AssetSelection.assets(*scheduled(partitioned=False, polling=Polling.DAILY)),
    description="Every team, its members, channels, channel members and messages, daily (Teams' polling rule).")
sync_directory = dg.define_asset_job("sync_directory", selection=dg.AssetSelection.assets("users"),
                                     description="The tenant's users.")


# A sensor tick has 60 s; a sync holding the warehouse lets readers in at least every 10 s
# (BatchWriter.hold_seconds), so 20 s is ample, and a busy warehouse only skips this tick.
SENSOR_LOCK_WAIT_S = 20.0


# Starts on: it only reads the warehouse (or the token cache), never Graph, and the schedules need it.
@dg.sensor(minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING, description=(
    "One `mailboxes` partition per live user in the warehouse; in delegated mode, per signed-in account. "
    "Reads no Graph data; starts on."))
def mailbox_partitions(context: dg.SensorEvaluationContext, graph: GraphResource,
                       warehouse: WarehouseResource) -> dg.SensorResult:
    settings = graph.settings()
    if settings.auth == "delegated":
        live = {str(a.get("local_account_id")) for a in signed_in(settings.token_cache)}
    else:
        try:
            rows = warehouse.warehouse(SENSOR_LOCK_WAIT_S).query_rows("SELECT id FROM users WHERE _deleted_at IS NULL")
        except WarehouseLocked:
            return dg.SensorResult(skip_reason="the warehouse is busy (a sync is writing); trying again next tick")
        except Exception as exc:  # noqa: BLE001 - no warehouse yet is a normal state before the first sync
            return dg.SensorResult(skip_reason=f"no users table yet (materialize `users` first): {exc}")
        live = {row[0] for row in rows}
    known = set(context.instance.get_dynamic_partitions(mailboxes.name))
    requests = []
    if live - known:
        requests.append(mailboxes.build_add_request(sorted(live - known)))
    if known - live:
        requests.append(mailboxes.build_delete_request(sorted(known - live)))
    if not requests:
        return dg.SensorResult(skip_reason="mailbox partitions are up to date")
    return dg.SensorResult(dynamic_partitions_requests=requests)


def batched_run_requests(keys: list[str], batch_size: int = BATCH_SIZE) -> list[dg.RunRequest]:
    """One run per consecutive range of `batch_size` mailbox partitions."""
    requests = []
    for start in range(0, len(keys), batch_size):
        chunk = keys[start : start + batch_size]
        requests.append(dg.RunRequest(
            run_key=None,
            tags={"dagster/asset_partition_range_start": chunk[0], "dagster/asset_partition_range_end": chunk[-1]},
        ))
    return requests


def _mailbox_batches(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest] | dg.SkipReason:
    keys = list(context.instance.get_dynamic_partitions(mailboxes.name))
    if not keys:
        return dg.SkipReason("no mailbox partitions yet: sync users first")
    return batched_run_requests(keys)


@dg.schedule(job=sync_mailboxes, cron_schedule="15 * * * *", description="Hourly incremental mail sync.")
def mailboxes_hourly(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest] | dg.SkipReason:
    return _mailbox_batches(context)


@dg.schedule(job=sync_chats, cron_schedule="45 2 * * *",
             description="Daily incremental chat sync (Teams allows polling for changes once a day).")
def chats_daily(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest] | dg.SkipReason:
    return _mailbox_batches(context)


teams_daily = dg.ScheduleDefinition(name="teams_daily", job=sync_teams, cron_schedule="35 2 * * *",
                                    description="Daily incremental Teams sync (teams and channels; Teams allows "
                                                "polling for changes once a day).")
directory_hourly = dg.ScheduleDefinition(name="directory_hourly", job=sync_directory, cron_schedule="5 * * * *",
                                         description="Hourly incremental directory sync.")
