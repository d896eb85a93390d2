using Microsoft.Extensions.Logging;

namespace Harvester.Data;

internal static partial class Log
{
    [LoggerMessage(1001, LogLevel.Information, "Initialising embedded PostgreSQL cluster in {DataDir}")]
    public static partial void InitializingCluster(ILogger logger, string dataDir);

    [LoggerMessage(1002, LogLevel.Information, "Starting embedded PostgreSQL: data {DataDir}, socket {SocketDir}, port {Port}")]
    public static partial void StartingCluster(ILogger logger, string dataDir, string socketDir, int port);

    [LoggerMessage(1003, LogLevel.Information, "Adopting embedded PostgreSQL already running on {DataDir} (pid {Pid})")]
    public static partial void AdoptingCluster(ILogger logger, string dataDir, int pid);

    [LoggerMessage(1004, LogLevel.Warning, "Removing stale {PidFile} left by a server that is no longer running; PostgreSQL will recover from its WAL")]
    public static partial void RemovingStalePidFile(ILogger logger, string pidFile);

    [LoggerMessage(1005, LogLevel.Information, "Stopped embedded PostgreSQL on {DataDir}")]
    public static partial void ClusterStopped(ILogger logger, string dataDir);

    [LoggerMessage(1006, LogLevel.Information, "Database {Database} ready ({Mode}); pgvector {VectorVersion}")]
    public static partial void DatabaseReady(ILogger logger, string database, string mode, string vectorVersion);

    [LoggerMessage(1007, LogLevel.Information, "Applied migrations: {Migrations}")]
    public static partial void MigrationsApplied(ILogger logger, string migrations);

    [LoggerMessage(1010, LogLevel.Information, "State directory {StateRoot} is private to root, which the PostgreSQL user cannot enter; the embedded cluster lives in {ClusterDir}")]
    public static partial void ClusterRelocated(ILogger logger, string stateRoot, string clusterDir);

    [LoggerMessage(1020, LogLevel.Information, "Stage {Stage} running: {Concurrency} loop(s), claims of {ClaimBatch}, polling every {PollInterval} when idle")]
    public static partial void StageWorkerStarted(ILogger logger, string stage, int concurrency, int claimBatch, TimeSpan pollInterval);

    [LoggerMessage(1021, LogLevel.Warning, "Stage {Stage}: database unavailable ({Reason}); retrying in {Delay}")]
    public static partial void DatabaseUnavailable(ILogger logger, string stage, string reason, TimeSpan delay);

    [LoggerMessage(1022, LogLevel.Information, "Stage {Stage}: database back after {Attempts} failed attempt(s); carrying on")]
    public static partial void DatabaseBack(ILogger logger, string stage, int attempts);

    [LoggerMessage(1023, LogLevel.Critical, "Stage {Stage} stopped the worker: {Reason}")]
    public static partial void StageStopped(ILogger logger, Exception exception, string stage, string reason);

    [LoggerMessage(1024, LogLevel.Information, "Removed {Count} temp files that killed downloads left in {Root}")]
    public static partial void OrphanedTempFilesRemoved(ILogger logger, int count, string root);

    [LoggerMessage(1025, LogLevel.Warning, "Could not sweep temp files from the blob store: {Reason}")]
    public static partial void OrphanedTempFilesFailed(ILogger logger, string reason);

    [LoggerMessage(1026, LogLevel.Information, "Worker {Worker} registered for stages {Stages}; heartbeat every {Interval}")]
    public static partial void WorkerRegistered(ILogger logger, string worker, string stages, TimeSpan interval);

    [LoggerMessage(1027, LogLevel.Warning, "Worker heartbeat not written ({Reason}); trying again in {Interval}")]
    public static partial void HeartbeatFailed(ILogger logger, string reason, TimeSpan interval);

    [LoggerMessage(1008, LogLevel.Warning, "Database unavailable at start ({Reason}); retrying in {Delay}")]
    public static partial void DatabaseUnavailableAtStart(ILogger logger, string reason, TimeSpan delay);

    [LoggerMessage(1009, LogLevel.Information, "Database reachable after {Attempts} failed attempt(s)")]
    public static partial void DatabaseReachable(ILogger logger, int attempts);
}
