using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Playwright;

namespace Harvester.Crawl;

/// <summary>
/// JSON responses a page receives whose URL matches a definition's pattern, read as they arrive. Created before the
/// navigation or click that triggers them (a listener cannot see the past), disposed when the list has been read.
/// </summary>
internal sealed class JsonResponses : IDisposable
{
    private readonly IPage _page;
    private readonly Regex _pattern;
    private readonly List<Task<JsonDocument?>> _bodies = [];
    private readonly List<string> _errors = [];
    private readonly object _gate = new();

    private JsonResponses(IPage page, Regex pattern)
    {
        _page = page;
        _pattern = pattern;
        _page.Response += OnResponse;
    }

    /// <summary>Null when the list has no Response pattern.</summary>
    public static JsonResponses? Start(IPage page, JsonList list) =>
        list.Response.Length == 0 ? null : new JsonResponses(page, new Regex(list.Response, RegexOptions.CultureInvariant, PhotoUrls.PatternTimeout));

    /// <summary>Matching responses seen so far (including ones whose body is still being read).</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _bodies.Count;
            }
        }
    }

    /// <summary>Responses that matched but could not be read as JSON, with why.</summary>
    public IReadOnlyList<string> Errors
    {
        get
        {
            lock (_gate)
            {
                return [.. _errors];
            }
        }
    }

    public async Task<IReadOnlyList<JsonDocument>> DocumentsAsync()
    {
        Task<JsonDocument?>[] bodies;
        lock (_gate)
        {
            bodies = [.. _bodies];
        }

        var documents = await Task.WhenAll(bodies);
        return [.. documents.OfType<JsonDocument>()];
    }

    private void OnResponse(object? sender, IResponse response)
    {
        if (!_pattern.IsMatch(response.Url))
        {
            return;
        }

        lock (_gate)
        {
            _bodies.Add(ReadAsync(response));
        }
    }

    private async Task<JsonDocument?> ReadAsync(IResponse response)
    {
        try
        {
            if (!response.Ok)
            {
                Error($"{response.Url}: HTTP {response.Status}");
                return null;
            }

            return JsonDocument.Parse(await response.BodyAsync());
        }
        catch (JsonException e)
        {
            Error($"{response.Url}: not JSON ({e.Message.Split('\n')[0]})");
            return null;
        }
        catch (PlaywrightException e)
        {
            // The page moved on before the body was read (a redirect, or a navigation away).
            Error($"{response.Url}: body unavailable ({e.Message.Split('\n')[0]})");
            return null;
        }
    }

    private void Error(string message)
    {
        lock (_gate)
        {
            _errors.Add(message);
        }
    }

    public void Dispose()
    {
        _page.Response -= OnResponse;
        Task<JsonDocument?>[] bodies;
        lock (_gate)
        {
            bodies = [.. _bodies];
        }

        foreach (var body in bodies.Where(b => b.IsCompletedSuccessfully))
        {
            body.Result?.Dispose();
        }
    }
}

/// <summary>Reads a <see cref="JsonList"/>'s items from the page's embedded JSON and its captured responses.</summary>
internal static class JsonItems
{
    /// <summary>
    /// The items of <paramref name="list"/>: from every element <see cref="JsonList.Script"/> matches (JSON, or a script
    /// assigning JSON to a variable) and every captured response, in that order. Embedded JSON that does not parse is
    /// reported in <paramref name="problems"/>.
    /// </summary>
    public static async Task<List<JsonElement>> ReadAsync(IFrame scope, JsonList list, JsonResponses? responses, List<string>? problems = null)
    {
        var items = new List<JsonElement>();
        var path = JsonPath.Parse(list.Items);
        if (list.Script.Length > 0)
        {
            var texts = await scope.Locator(list.Script).EvaluateAllAsync<string[]>("els => els.map(e => e.textContent || '')");
            foreach (var text in texts)
            {
                if (Parse(text) is { } root)
                {
                    items.AddRange(path.Select(root));
                }
                else
                {
                    problems?.Add($"Script ('{list.Script}') holds no JSON: {Preview(text)}");
                }
            }
        }

        if (responses is not null)
        {
            foreach (var document in await responses.DocumentsAsync())
            {
                items.AddRange(path.Select(document.RootElement));
            }

            problems?.AddRange(responses.Errors);
        }

        return items;
    }

    /// <summary>JSON text, or a script that assigns JSON (<c>window.__STATE__ = {…};</c>); null when neither.</summary>
    public static JsonElement? Parse(string text)
    {
        var t = text.Trim();
        if (t.Length == 0)
        {
            return null;
        }

        if (TryParse(t) is { } direct)
        {
            return direct;
        }

        var start = t.IndexOfAny(['{', '[']);
        var end = Math.Max(t.LastIndexOf('}'), t.LastIndexOf(']'));
        return start >= 0 && end > start ? TryParse(t[start..(end + 1)]) : null;
    }

    private static JsonElement? TryParse(string t)
    {
        try
        {
            using var document = JsonDocument.Parse(t);
            return document.RootElement.Clone();
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string Preview(string text) => text.Length <= 60 ? text : text[..60] + "…";
}
