"""The write-back job: replays the queue (pipelines/writeback/replay.py), on a schedule and whenever
actions are pending."""

import asyncio

import dagster as dg

from pipelines.resources import GraphResource, WarehouseResource


@dg.op(description="Replay the queued write-back actions against Graph, each exactly once.")
def replay_queue(context: dg.OpExecutionContext, graph: GraphResource, warehouse: WarehouseResource) -> None:
    from pipelines.writeback.replay import Replay
    from warehouse.queue import ActionQueue, queue_path

    settings = graph.settings()
    wh = warehouse.warehouse()
    report = asyncio.run(Replay(settings, ActionQueue(queue_path(wh.path)), wh).run())
    metadata = {f"actions_{status}": dg.MetadataValue.int(n) for status, n in sorted(report.statuses.items())}
    metadata |= {"graph_requests": dg.MetadataValue.int(report.requests),
                 "still_pending": dg.MetadataValue.int(report.pending),
                 "seconds": dg.MetadataValue.float(round(report.seconds, 2))}
    context.log_event(dg.AssetObservation(asset_key="writeback_queue", metadata=metadata))
    for line in report.failed:
        context.log.warning(line)
    if report.failed:
        raise dg.Failure(f"{len(report.failed)} action(s) failed or conflicted (see `graphsync writeback status`)",
                         metadata={"first": dg.MetadataValue.text(report.failed[0])})


@dg.job(description="Replay the write-back queue: dependencies first, $batch of 20, throttling obeyed.")
def writeback() -> None:
    replay_queue()


writeback_every_15_minutes = dg.ScheduleDefinition(name="writeback_every_15_minutes", job=writeback,
                                                   cron_schedule="*/15 * * * *",
                                                   description="Replay whatever is queued, every 15 minutes.")


@dg.sensor(job=writeback, minimum_interval_seconds=30,
           description="Starts the write-back job when actions are pending (one run per new batch of actions).")
def pending_actions(context: dg.SensorEvaluationContext, warehouse: WarehouseResource) -> dg.SensorResult:
    from models.writeback import PENDING
    from warehouse.queue import ActionQueue, queue_path

    path = queue_path(warehouse.warehouse().path)
    if not path.exists():
        return dg.SensorResult(skip_reason="nothing was ever queued")
    pending = ActionQueue(path).actions([PENDING])
    if not pending:
        return dg.SensorResult(skip_reason="no pending actions")
    newest = max(a.id or 0 for a in pending)
    return dg.SensorResult(run_requests=[dg.RunRequest(run_key=f"pending-up-to-{newest}")])
