using System.Net.Sockets;
using Npgsql;

namespace Harvester.Data.Stages;

/// <summary>Errors that mean "PostgreSQL is not there right now" (restart, failover, network), not "this work is wrong".</summary>
public static class TransientDatabaseErrors
{
    public static bool Is(Exception e)
    {
        for (var x = e; x is not null; x = x.InnerException)
        {
            switch (x)
            {
                case PostgresException pg when pg.SqlState.StartsWith("08", StringComparison.Ordinal) // connection exceptions
                                              || pg.SqlState is "57P01" or "57P02" or "57P03" // admin/crash shutdown, cannot connect now
                                              || pg.SqlState is "40001" or "40P01" // serialization failure, deadlock
                                              || pg.SqlState is "53300": // too many connections
                    return true;
                case PostgresException:
                    return false;
                case NpgsqlException n when n.IsTransient:
                    return true;
                case SocketException or TimeoutException or EndOfStreamException:
                    return true;
                case IOException when x.InnerException is SocketException:
                    return true;
            }
        }

        return false;
    }

    /// <summary>The first line of the innermost useful message, for one log line.</summary>
    public static string Describe(Exception e)
    {
        var x = e;
        while (x.InnerException is not null && x is not PostgresException)
        {
            x = x.InnerException;
        }

        return x.Message.Split('\n')[0].Trim();
    }
}
