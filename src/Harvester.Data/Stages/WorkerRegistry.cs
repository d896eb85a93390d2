using System.Globalization;
using Harvester.Core.Telemetry;
using Npgsql;

namespace Harvester.Data.Stages;

/// <summary>How a worker looks from its heartbeat.</summary>
public enum WorkerState
{
    /// <summary>Beat within one interval (plus a margin).</summary>
    Alive,

    /// <summary>Missed a beat, but not yet <see cref="WorkerRegistry.GoneAfterBeats"/> of them: busy, paused or partitioned.</summary>
    Silent,

    /// <summary>Stopped, known dead (a process of this machine that no longer runs), or silent for too long.</summary>
    Gone,
}

/// <summary>One row of the workers table, as the dashboard shows it.</summary>
public sealed record WorkerRow(
    string Id, string Host, int Pid, string Version, IReadOnlyList<string> Stages, DateTimeOffset StartedAt, DateTimeOffset LastBeatAt,
    TimeSpan HeartbeatInterval, long ItemsDone, DateTimeOffset? StoppedAt, WorkerState State, string Why);

/// <summary>
/// The workers table: each <c>harvester worker</c> registers itself, beats every Worker:HeartbeatInterval and marks
/// itself stopped on a clean exit. Every statement on that table is here.
/// <para>
/// The liveness rule, used by the dashboard and by claim reclaiming alike: a worker is <b>gone</b> when it stopped,
/// when it is a process of this machine that no longer runs (its pid is gone or belongs to a newer process), or when
/// its last beat is older than <see cref="GoneAfterBeats"/> of its own intervals; <b>silent</b> when its last beat is
/// older than one interval plus a margin; <b>alive</b> otherwise. All ages are measured on the database's clock.
/// </para>
/// </summary>
public static class WorkerRegistry
{
    /// <summary>Missed beats after which a worker on another machine counts as gone and its claims come back.</summary>
    public const int GoneAfterBeats = 3;

    /// <summary>Rows of workers gone this long are deleted when a worker starts.</summary>
    public static readonly TimeSpan KeepGone = TimeSpan.FromDays(7);

    /// <summary>Slack on one interval before a worker counts as silent: a beat is a round trip to the database.</summary>
    public static TimeSpan Margin(TimeSpan interval) => TimeSpan.FromTicks(Math.Max(TimeSpan.FromSeconds(1).Ticks, interval.Ticks / 2));

    public static async Task RegisterAsync(NpgsqlDataSource dataSource, IReadOnlyList<string> stages, TimeSpan interval, CancellationToken ct)
    {
        var parts = ProcessIdentity.Current.Split(':');
        await using var batch = dataSource.CreateBatch();
        batch.BatchCommands.Add(new NpgsqlBatchCommand("""
            INSERT INTO workers (id, host, pid, version, stages, started_at, last_beat_at, heartbeat_interval, items_done, stopped_at)
            VALUES ($1, $2, $3, $4, $5, now(), now(), $6, 0, NULL)
            ON CONFLICT (id) DO UPDATE SET version = excluded.version, stages = excluded.stages, last_beat_at = now(),
                heartbeat_interval = excluded.heartbeat_interval, stopped_at = NULL
            """)
        {
            Parameters =
            {
                new() { Value = ProcessIdentity.Current },
                new() { Value = ProcessIdentity.Host },
                new() { Value = int.Parse(parts[1], CultureInfo.InvariantCulture) },
                new() { Value = HarvesterTelemetry.Version },
                new() { Value = stages.ToArray() },
                new() { Value = interval },
            },
        });
        batch.BatchCommands.Add(new NpgsqlBatchCommand("DELETE FROM workers WHERE coalesce(stopped_at, last_beat_at) < now() - $1")
        {
            Parameters = { new() { Value = KeepGone } },
        });
        await batch.ExecuteNonQueryAsync(ct);
    }

    public static async Task BeatAsync(NpgsqlDataSource dataSource, long itemsDone, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand("UPDATE workers SET last_beat_at = now(), items_done = $2 WHERE id = $1");
        cmd.Parameters.Add(new NpgsqlParameter { Value = ProcessIdentity.Current });
        cmd.Parameters.Add(new NpgsqlParameter { Value = itemsDone });
        await cmd.ExecuteNonQueryAsync(ct);
    }

    public static async Task StopAsync(NpgsqlDataSource dataSource, long itemsDone, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand("UPDATE workers SET stopped_at = now(), last_beat_at = now(), items_done = $2 WHERE id = $1");
        cmd.Parameters.Add(new NpgsqlParameter { Value = ProcessIdentity.Current });
        cmd.Parameters.Add(new NpgsqlParameter { Value = itemsDone });
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Every registered worker with its state, newest first; read in the caller's transaction.</summary>
    public static async Task<List<WorkerRow>> ListAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, CancellationToken ct)
    {
        var rows = new List<WorkerRow>();
        await using var cmd = new NpgsqlCommand("""
            SELECT id, host, pid, version, stages, started_at, last_beat_at, heartbeat_interval, items_done, stopped_at, now()
            FROM workers ORDER BY stopped_at IS NOT NULL, started_at DESC
            """, connection, transaction);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            var id = r.GetString(0);
            var lastBeat = r.GetFieldValue<DateTimeOffset>(6);
            var interval = r.GetFieldValue<TimeSpan>(7);
            DateTimeOffset? stopped = r.IsDBNull(9) ? null : r.GetFieldValue<DateTimeOffset>(9);
            var (state, why) = Judge(id, lastBeat, interval, stopped, r.GetFieldValue<DateTimeOffset>(10));
            rows.Add(new WorkerRow(id, r.GetString(1), r.GetInt32(2), r.GetString(3), r.GetFieldValue<string[]>(4), r.GetFieldValue<DateTimeOffset>(5),
                lastBeat, interval, r.GetInt64(8), stopped, state, why));
        }

        return rows;
    }

    /// <summary>The liveness rule (see the class summary), with a few words on why.</summary>
    public static (WorkerState State, string Why) Judge(string id, DateTimeOffset lastBeat, TimeSpan interval, DateTimeOffset? stoppedAt, DateTimeOffset now)
    {
        if (stoppedAt is not null)
        {
            return (WorkerState.Gone, "stopped");
        }

        if (ProcessIdentity.IsDeadLocalOwner(id))
        {
            return (WorkerState.Gone, "process no longer runs");
        }

        var age = now - lastBeat;
        if (age > interval * GoneAfterBeats)
        {
            return (WorkerState.Gone, $"no heartbeat for {Seconds(age)}");
        }

        return age > interval + Margin(interval) ? (WorkerState.Silent, $"no heartbeat for {Seconds(age)}") : (WorkerState.Alive, "");
    }

    private static string Seconds(TimeSpan t) => t.TotalSeconds.ToString("F0", CultureInfo.InvariantCulture) + " s";

    /// <summary>
    /// Ends at once the live work leases held by registered workers that are gone by their heartbeat (on any machine)
    /// or stopped. A database that restarted less than <see cref="GoneAfterBeats"/> intervals ago judges nobody by
    /// heartbeat: nobody could beat while it was down. Returns how many leases were ended.
    /// </summary>
    public static async Task<int> ReclaimFromGoneWorkersAsync(NpgsqlDataSource dataSource, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand($"""
            UPDATE work_leases l SET lease_until = now()
            FROM workers w
            WHERE l.claimed_by = w.id AND l.lease_until > now() AND w.id <> $1
              AND (w.stopped_at IS NOT NULL
                   OR (w.last_beat_at < now() - w.heartbeat_interval * {GoneAfterBeats}
                       AND pg_postmaster_start_time() < now() - w.heartbeat_interval * {GoneAfterBeats}))
            """);
        cmd.Parameters.Add(new NpgsqlParameter { Value = ProcessIdentity.Current });
        return await cmd.ExecuteNonQueryAsync(ct);
    }
}
