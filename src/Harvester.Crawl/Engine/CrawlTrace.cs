namespace Harvester.Crawl;

/// <summary>
/// What a flow saw while it worked, for <c>harvester crawl check</c>: pages opened, what each configured selector or
/// JSON list matched, values skipped and why. Crawls pass no trace and pay nothing for it.
/// </summary>
public interface ICrawlTrace
{
    void Page(string step, string url);

    /// <summary>A configured key was used: how many elements or items it matched and the first values read from them.</summary>
    void Matched(string key, string spec, int count, IReadOnlyList<string> values, string? note = null);

    /// <summary>A value read for <paramref name="key"/> was not taken, and why.</summary>
    void Skipped(string key, string value, string reason);

    void Note(string key, string text);
}

/// <summary>A recorded trace line.</summary>
public sealed record TraceEntry(string Kind, string Key, string Spec, int? Count, IReadOnlyList<string> Values, string? Note);

/// <summary>Keeps every line in order.</summary>
public sealed class RecordingTrace : ICrawlTrace
{
    private readonly List<TraceEntry> _entries = [];
    private readonly object _gate = new();

    public IReadOnlyList<TraceEntry> Entries
    {
        get
        {
            lock (_gate)
            {
                return [.. _entries];
            }
        }
    }

    public void Page(string step, string url) => Add(new TraceEntry("page", step, url, null, [], null));

    public void Matched(string key, string spec, int count, IReadOnlyList<string> values, string? note = null) =>
        Add(new TraceEntry("matched", key, spec, count, values, note));

    public void Skipped(string key, string value, string reason) => Add(new TraceEntry("skipped", key, value, null, [], reason));

    public void Note(string key, string text) => Add(new TraceEntry("note", key, "", null, [], text));

    private void Add(TraceEntry entry)
    {
        lock (_gate)
        {
            _entries.Add(entry);
        }
    }
}
