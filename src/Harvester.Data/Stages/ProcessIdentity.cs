using System.Globalization;

namespace Harvester.Data.Stages;

/// <summary>
/// Who holds a claim: "host:pid:start", start being the process's start time in clock ticks since boot (from
/// /proc/&lt;pid&gt;/stat). A pid alone is not enough to judge a claim's owner dead: pids are reused, start times are not.
/// </summary>
public static class ProcessIdentity
{
    public static string Host { get; } = Environment.MachineName;

    public static string Current { get; } = Format(Host, Environment.ProcessId, StartTicks(Environment.ProcessId) ?? 0);

    /// <summary>This process as "pid-start", for names of files and folders it leaves while writing.</summary>
    public static string FileTag { get; } = Current[(Host.Length + 1)..].Replace(':', '-');

    /// <summary>Whether the local process a <see cref="FileTag"/> names (pid and start) no longer runs.</summary>
    public static bool IsDeadLocalFileTag(string pid, string start) => IsDeadLocalOwner($"{Host}:{pid}:{start}");

    public static string Format(string host, int pid, long startTicks) =>
        string.Create(CultureInfo.InvariantCulture, $"{host}:{pid}:{startTicks}");

    /// <summary>
    /// True when <paramref name="owner"/> names a process of this machine that no longer runs (or whose pid now
    /// belongs to another process). Owners of other machines are never judged here: their leases expire.
    /// </summary>
    public static bool IsDeadLocalOwner(string owner)
    {
        var parts = owner.Split(':');
        if (parts.Length < 2 || parts[0] != Host || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
        {
            return false;
        }

        if (owner == Current)
        {
            return false;
        }

        var start = StartTicks(pid);
        if (start is null)
        {
            return true;
        }

        // Owners written before start times were recorded ("host:pid") are judged by the pid alone.
        return parts.Length >= 3 && long.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var recorded) && recorded != start;
    }

    /// <summary>Field 22 of /proc/&lt;pid&gt;/stat, or null when there is no such process.</summary>
    public static long? StartTicks(int pid)
    {
        string stat;
        try
        {
            stat = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        // The command name (field 2) is in parentheses and may hold spaces; fields after it are plain.
        var close = stat.LastIndexOf(')');
        var fields = stat[(close + 2)..].Split(' ');
        return fields.Length > 19 && long.TryParse(fields[19], NumberStyles.None, CultureInfo.InvariantCulture, out var ticks) ? ticks : null;
    }
}
