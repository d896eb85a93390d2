using System.Text.RegularExpressions;

namespace Harvester.Crawl;

/// <summary>
/// Checks the syntax of a Playwright selector without a browser, so a definition with a broken selector is refused when
/// the app starts rather than on every item of a crawl: CSS (with Playwright's pseudo-classes such as :has-text() and
/// :visible), engine prefixes (text=, css=, xpath=, …) and "&gt;&gt;" chains. It checks structure (brackets, quotes,
/// attribute tests, empty parts, dangling combinators), not whether anything matches.
/// </summary>
public static partial class SelectorSyntax
{
    /// <summary>Null when <paramref name="selector"/> is well formed, else what is wrong with it.</summary>
    public static string? Check(string selector)
    {
        if (string.IsNullOrWhiteSpace(selector))
        {
            return "the selector is empty";
        }

        if (Unbalanced(selector) is { } unbalanced)
        {
            return unbalanced;
        }

        foreach (var part in SplitTopLevel(selector, ">>"))
        {
            var p = part.Trim();
            if (p.Length == 0)
            {
                return "'>>' has nothing on one side";
            }

            var engine = EnginePrefix().Match(p);
            if (engine.Success)
            {
                var rest = p[engine.Length..].Trim();
                if (rest.Length == 0)
                {
                    return $"'{engine.Value}' has no argument";
                }

                if (engine.Groups[1].Value is "css" && CheckCss(rest) is { } cssError)
                {
                    return cssError;
                }

                continue;
            }

            if (CheckCss(p) is { } error)
            {
                return error;
            }
        }

        return null;
    }

    /// <summary>
    /// A "selector" or "selector@attribute" read spec: the selector is checked, and the attribute must be a name.
    /// </summary>
    public static string? CheckRead(string spec)
    {
        var at = spec.LastIndexOf('@');
        if (at > 0 && !spec[at..].Contains(']', StringComparison.Ordinal))
        {
            var attribute = spec[(at + 1)..];
            if (!AttributeName().IsMatch(attribute))
            {
                return $"'@{attribute}' is not an attribute name";
            }

            return Check(spec[..at]);
        }

        return Check(spec);
    }

    private static string? CheckCss(string css)
    {
        foreach (var complex in SplitTopLevel(css, ","))
        {
            var c = complex.Trim();
            if (c.Length == 0)
            {
                return "an empty selector between commas";
            }

            if (c[0] is '>' or '+' or '~' && !(c.Length > 1 && c[0] == '>' && c[1] == '>'))
            {
                // ":has(> li)" starts with a combinator inside the parentheses; CheckPseudo allows that case.
                return $"'{c}' starts with the combinator '{c[0]}'";
            }

            if (c[^1] is '>' or '+' or '~')
            {
                return $"'{c}' ends with the combinator '{c[^1]}'";
            }

            if (CheckCompounds(c) is { } error)
            {
                return error;
            }
        }

        return null;
    }

    private static string? CheckCompounds(string s)
    {
        var i = 0;
        var expectCompound = true;
        while (i < s.Length)
        {
            var c = s[i];
            if (char.IsWhiteSpace(c))
            {
                i++;
                continue;
            }

            if (c is '>' or '+' or '~')
            {
                if (expectCompound)
                {
                    return $"two combinators in a row in '{s}'";
                }

                expectCompound = true;
                i++;
                continue;
            }

            // One compound selector: type/universal, then #id, .class, [attr], :pseudo in any number.
            var start = i;
            if (c == '*' || IsNameStart(c))
            {
                i++;
                while (i < s.Length && (IsNameChar(s[i]) || s[i] == '|'))
                {
                    i++;
                }
            }

            while (i < s.Length && !char.IsWhiteSpace(s[i]) && s[i] is not ('>' or '+' or '~'))
            {
                switch (s[i])
                {
                    case '#':
                    case '.':
                    {
                        var kind = s[i] == '#' ? "an id" : "a class";
                        i++;
                        var nameStart = i;
                        while (i < s.Length && (IsNameChar(s[i]) || s[i] == '\\'))
                        {
                            i += s[i] == '\\' ? 2 : 1;
                        }

                        if (i == nameStart)
                        {
                            return $"'{s[(nameStart - 1)..Math.Min(s.Length, nameStart + 1)]}' has no name after it ({kind} needs one) in '{s}'";
                        }

                        break;
                    }

                    case '[':
                    {
                        var close = FindClose(s, i, '[', ']');
                        var inner = s[(i + 1)..close];
                        if (!AttributeTest().IsMatch(inner))
                        {
                            return $"'[{inner}]' is not an attribute test";
                        }

                        i = close + 1;
                        break;
                    }

                    case ':':
                    {
                        i++;
                        if (i < s.Length && s[i] == ':')
                        {
                            i++;
                        }

                        var nameStart = i;
                        while (i < s.Length && IsNameChar(s[i]))
                        {
                            i++;
                        }

                        if (i == nameStart)
                        {
                            return $"':' has no pseudo-class name after it in '{s}'";
                        }

                        var name = s[nameStart..i];
                        if (i < s.Length && s[i] == '(')
                        {
                            var close = FindClose(s, i, '(', ')');
                            var argument = s[(i + 1)..close].Trim();
                            i = close + 1;
                            if (name is "is" or "not" or "where" or "has" && argument.Length > 0)
                            {
                                var nested = argument[0] is '>' or '+' or '~' ? "*" + argument : argument;
                                if (CheckCss(nested) is { } error)
                                {
                                    return error;
                                }
                            }
                            else if (argument.Length == 0 && name is not "has-text" and not "text")
                            {
                                return $"':{name}()' has an empty argument";
                            }
                        }

                        break;
                    }

                    default:
                        return $"unexpected '{s[i]}' in '{s}'";
                }
            }

            if (i == start)
            {
                return $"unexpected '{s[i]}' in '{s}'";
            }

            expectCompound = false;
        }

        return expectCompound && s.Trim().Length > 0 ? $"'{s}' ends with a combinator" : null;
    }

    private static string? Unbalanced(string s)
    {
        var stack = new Stack<char>();
        char? quote = null;
        for (var i = 0; i < s.Length; i++)
        {
            var c = s[i];
            if (quote is not null)
            {
                if (c == '\\')
                {
                    i++;
                }
                else if (c == quote)
                {
                    quote = null;
                }

                continue;
            }

            switch (c)
            {
                case '\\':
                    i++;
                    break;
                case '\'' or '"':
                    quote = c;
                    break;
                case '(' or '[':
                    stack.Push(c);
                    break;
                case ')' or ']':
                    var open = c == ')' ? '(' : '[';
                    if (stack.Count == 0 || stack.Pop() != open)
                    {
                        return $"'{c}' at position {i + 1} has no matching '{open}'";
                    }

                    break;
            }
        }

        if (quote is not null)
        {
            return $"a {quote} quote is not closed";
        }

        return stack.Count > 0 ? $"'{stack.Peek()}' is not closed" : null;
    }

    /// <summary>Splits at <paramref name="separator"/> outside quotes, brackets and parentheses.</summary>
    private static List<string> SplitTopLevel(string s, string separator)
    {
        var parts = new List<string>();
        var depth = 0;
        char? quote = null;
        var start = 0;
        for (var i = 0; i < s.Length; i++)
        {
            if (SkipQuoted(s, ref i, ref quote))
            {
                continue;
            }

            var c = s[i];
            if (c is '(' or '[')
            {
                depth++;
            }
            else if (c is ')' or ']')
            {
                depth--;
            }
            else if (depth == 0 && string.CompareOrdinal(s, i, separator, 0, separator.Length) == 0)
            {
                parts.Add(s[start..i]);
                i += separator.Length - 1;
                start = i + 1;
            }
        }

        parts.Add(s[start..]);
        return parts;
    }

    private static int FindClose(string s, int open, char opening, char closing)
    {
        var depth = 0;
        char? quote = null;
        for (var i = open; i < s.Length; i++)
        {
            if (SkipQuoted(s, ref i, ref quote))
            {
                continue;
            }

            var c = s[i];
            if (c == opening)
            {
                depth++;
            }
            else if (c == closing && --depth == 0)
            {
                return i;
            }
        }

        return s.Length - 1;
    }

    /// <summary>
    /// True when s[i] opens, closes or lies inside a quoted string (so it is no syntax); steps over an escaped
    /// character inside one.
    /// </summary>
    private static bool SkipQuoted(string s, ref int i, ref char? quote)
    {
        var c = s[i];
        if (quote is not null)
        {
            if (c == '\\')
            {
                i++;
            }
            else if (c == quote)
            {
                quote = null;
            }

            return true;
        }

        if (c is '\'' or '"')
        {
            quote = c;
            return true;
        }

        return false;
    }

    private static bool IsNameStart(char c) => char.IsLetter(c) || c == '_' || c == '-' || c > 127;

    private static bool IsNameChar(char c) => char.IsLetterOrDigit(c) || c == '_' || c == '-' || c > 127;

    [GeneratedRegex(@"^(text|css|xpath|id|data-testid|data-test-id|data-test|nth|visible|internal:[\w-]+|_react|_vue)\s*=")]
    private static partial Regex EnginePrefix();

    [GeneratedRegex(@"^\s*(?:[\w-]+\|)?[\w:-]+\s*(?:[~|^$*]?=\s*(?:""(?:[^""\\]|\\.)*""|'(?:[^'\\]|\\.)*'|[^\s""'\]]+)\s*(?:[iIsS]\s*)?)?$")]
    private static partial Regex AttributeTest();

    [GeneratedRegex(@"^[A-Za-z_:][\w:.-]*$")]
    private static partial Regex AttributeName();
}
