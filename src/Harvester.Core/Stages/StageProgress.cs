namespace Harvester.Core.Stages;

/// <summary>
/// Where a long operation stands: <see cref="Done"/> of <see cref="Total"/> units (null while the total is not known,
/// e.g. a crawl whose frontier is still growing). Stage services report these into an <see cref="IProgress{T}"/>;
/// the commands render them (a bar on a terminal, plain lines in a log). <see cref="Phase"/> names a step of a
/// multi-step operation ("k sweep", "gallery"); the counts then belong to that step.
/// </summary>
public readonly record struct StageProgress(string Stage, long Done, long? Total, string Unit = "items", string? Phase = null)
{
    public bool Finished => Total is { } t && Done >= t;
}

/// <summary>
/// Counts work done towards a total and reports each change, safely from parallel loops. The total may be raised as
/// more work turns up. With no sink it only counts, so a service can use one unconditionally.
/// </summary>
public sealed class ProgressCounter(IProgress<StageProgress>? sink, string stage, long? total = null, string unit = "items", string? phase = null)
{
    private long _done;
    private long _total = total ?? -1;

    public long Done => Interlocked.Read(ref _done);

    public long? Total => Interlocked.Read(ref _total) is var t && t >= 0 ? t : null;

    public void Add(long n = 1)
    {
        var done = Interlocked.Add(ref _done, n);
        sink?.Report(new StageProgress(stage, done, Total, unit, phase));
    }

    /// <summary>Sets the total (it may grow while work is found) and reports it.</summary>
    public void SetTotal(long value)
    {
        Interlocked.Exchange(ref _total, value);
        sink?.Report(new StageProgress(stage, Done, value, unit, phase));
    }
}
