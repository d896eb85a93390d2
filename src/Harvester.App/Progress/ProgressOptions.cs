using System.ComponentModel.DataAnnotations;

namespace Harvester.App.Progress;

public enum ProgressMode
{
    /// <summary>A bar on an interactive terminal, plain lines when output is redirected or CI=true.</summary>
    Auto,
    Bar,
    Lines,
    Off,
}

/// <summary>The "Progress" section: how long commands show where they stand.</summary>
public sealed class ProgressOptions
{
    public const string Section = "Progress";

    public ProgressMode Mode { get; set; } = ProgressMode.Auto;

    /// <summary>How often a plain progress line is written per stage that moved (redirected output, CI).</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")]
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(5);
}
