using System.Text.RegularExpressions;

namespace Harvester.Crawling;

/// <summary>
/// robots.txt rules for one user agent (RFC 9309): the most specific matching group, longest matching rule wins,
/// Allow wins ties, '*' and '$' wildcards.
/// </summary>
public sealed class RobotsTxt
{
    private readonly List<(bool Allow, string Pattern, Regex Regex)> _rules;

    private RobotsTxt(List<(bool, string, Regex)> rules) => _rules = rules;

    public static RobotsTxt AllowAll { get; } = new([]);

    /// <summary>Every path disallowed (robots.txt unreachable with a server error, as RFC 9309 asks).</summary>
    public static RobotsTxt DisallowAll { get; } = new([(false, "/", Compile("/"))]);

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
        return new RobotsTxt(chosen.SelectMany(g => g.Rules).Select(r => (r.Item1, r.Item2, Compile(r.Item2))).ToList());
    }

    public bool IsAllowed(Uri url)
    {
        var path = url.PathAndQuery;
        (bool Allow, int Length)? best = null;
        foreach (var (allow, pattern, regex) in _rules)
        {
            if (regex.IsMatch(path) && (best is null || pattern.Length > best.Value.Length || (pattern.Length == best.Value.Length && allow)))
            {
                best = (allow, pattern.Length);
            }
        }

        return best?.Allow ?? true;
    }

    private static Regex Compile(string pattern)
    {
        var anchored = pattern.EndsWith('$');
        var body = Regex.Escape(anchored ? pattern[..^1] : pattern).Replace(@"\*", ".*", StringComparison.Ordinal);
        return new Regex("^" + body + (anchored ? "$" : ""), RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(100));
    }
}
