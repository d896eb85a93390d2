namespace Harvester.Crawl;

/// <summary>
/// robots.txt rules for one user agent (RFC 9309): the most specific matching group, longest matching rule wins,
/// Allow wins ties, '*' and '$' wildcards.
/// </summary>
public sealed class RobotsTxt
{
    private readonly List<(bool Allow, string Pattern)> _rules;

    private RobotsTxt(List<(bool, string)> rules) => _rules = rules;

    public static RobotsTxt AllowAll { get; } = new([]);

    /// <summary>Every path disallowed (robots.txt unreachable with a server error, as RFC 9309 asks).</summary>
    public static RobotsTxt DisallowAll { get; } = new([(false, "/")]);

    public static RobotsTxt Parse(string content, string userAgent)
    {
        var token = userAgent.Split('/', ' ')[0].Trim().ToLowerInvariant();
        var groups = new List<(List<string> Agents, List<(bool, string)> Rules)>();
        List<string>? agents = null;
        List<(bool, string)>? rules = null;
        var lastWasAgent = false;
        foreach (var raw in content.Split('\n'))
        {
            var line = raw.Split('#')[0].Trim();
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                continue;
            }

            var key = line[..colon].Trim().ToLowerInvariant();
            var value = line[(colon + 1)..].Trim();
            if (key == "user-agent")
            {
                if (!lastWasAgent)
                {
                    agents = [];
                    rules = [];
                    groups.Add((agents, rules));
                }

                agents!.Add(value.ToLowerInvariant());
                lastWasAgent = true;
            }
            else if (key is "allow" or "disallow")
            {
                lastWasAgent = false;
                if (rules is not null && value.Length > 0)
                {
                    rules.Add((key == "allow", value));
                }
            }
            else
            {
                lastWasAgent = false;
            }
        }

        var specific = groups.Where(g => g.Agents.Any(a => a != "*" && token.Contains(a, StringComparison.Ordinal))).ToList();
        var chosen = specific.Count > 0 ? specific : groups.Where(g => g.Agents.Contains("*")).ToList();
        return new RobotsTxt(chosen.SelectMany(g => g.Rules).ToList());
    }

    public bool IsAllowed(Uri url)
    {
        var path = url.PathAndQuery;
        (bool Allow, int Length)? best = null;
        foreach (var (allow, pattern) in _rules)
        {
            if (Matches(pattern, path) && (best is null || pattern.Length > best.Value.Length || (pattern.Length == best.Value.Length && allow)))
            {
                best = (allow, pattern.Length);
            }
        }

        return best?.Allow ?? true;
    }

    /// <summary>
    /// RFC 9309 path matching: a prefix match where '*' matches any run of characters and a final '$' anchors the end.
    /// A plain matcher (no regex) so matching time never depends on a timeout.
    /// </summary>
    public static bool Matches(string pattern, string path)
    {
        var anchored = pattern.EndsWith('$');
        var parts = (anchored ? pattern[..^1] : pattern).Split('*');
        if (!path.StartsWith(parts[0], StringComparison.Ordinal))
        {
            return false;
        }

        var pos = parts[0].Length;
        for (var i = 1; i < parts.Length; i++)
        {
            var last = i == parts.Length - 1;
            if (last && anchored)
            {
                return path.Length - pos >= parts[i].Length && path.EndsWith(parts[i], StringComparison.Ordinal);
            }

            var found = path.IndexOf(parts[i], pos, StringComparison.Ordinal);
            if (found < 0)
            {
                return false;
            }

            pos = found + parts[i].Length;
        }

        return !anchored || pos == path.Length;
    }
}
