using Microsoft.Extensions.Logging;

namespace Harvester.App;

internal static partial class Log
{
    [LoggerMessage(7001, LogLevel.Information, "Dashboard listening on {Addresses}")]
    public static partial void DashboardListening(ILogger logger, string addresses);

    [LoggerMessage(7002, LogLevel.Error, "Dashboard not started, the worker goes on without it: {Reason}")]
    public static partial void DashboardFailed(ILogger logger, string reason);
}
