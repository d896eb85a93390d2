using Microsoft.Extensions.Logging;

namespace Harvester.App;

internal static partial class Log
{
    [LoggerMessage(7001, LogLevel.Information, "Dashboard listening on {Addresses}")]
    public static partial void DashboardListening(ILogger logger, string addresses);

    [LoggerMessage(7002, LogLevel.Error, "Dashboard not started, the worker goes on without it: {Reason}")]
    public static partial void DashboardFailed(ILogger logger, string reason);

    [LoggerMessage(7003, LogLevel.Warning, "Dashboard listens beyond loopback on {Urls} with no access token: anyone who can reach it sees the whole pipeline. Set Dashboard:Token, or listen on 127.0.0.1")]
    public static partial void DashboardExposed(ILogger logger, string urls);

    [LoggerMessage(7004, LogLevel.Warning, "Dashboard listens beyond loopback on {Urls} over plain HTTP: its access token crosses the network in clear. Put it behind a TLS proxy")]
    public static partial void DashboardTokenInClear(ILogger logger, string urls);
}
