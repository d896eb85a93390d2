using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;

namespace Harvester.Export.Tests;

/// <summary>
/// The real programs the export tests read exports with: Debian's Python (torchvision, scikit-learn, tarfile) and
/// Node.js with hyparquet, all installed by scripts/setup.sh. Their scripts live in clients/ beside this file.
/// </summary>
internal static class Clients
{
    /// <summary>Debian's interpreter, which has python3-torchvision and python3-sklearn (not a pyenv one on PATH).</summary>
    public const string Python = "/usr/bin/python3";

    public static string Repo { get; } = FindRepo();

    public static string Folder => Path.Combine(Repo, "tests", "Harvester.Export.Tests", "clients");

    public static async Task<JsonNode> PythonAsync(string script, params string[] args) =>
        await RunJsonAsync(Python, [Path.Combine(Folder, script), .. args]);

    public static async Task<JsonNode> NodeAsync(string script, params string[] args)
    {
        Assert.True(Directory.Exists(Path.Combine(Folder, "node_modules", "hyparquet")), "hyparquet is installed by scripts/setup.sh (npm ci in the clients folder)");
        return await RunJsonAsync("node", [Path.Combine(Folder, script), .. args]);
    }

    /// <summary>The code block that follows <paramref name="marker"/> in a docs file, so the docs' own code is what runs.</summary>
    public static string DocsCode(string docs, string marker)
    {
        var text = File.ReadAllText(Path.Combine(Repo, "docs", docs));
        var at = text.IndexOf(marker, StringComparison.Ordinal);
        Assert.True(at >= 0, $"docs/{docs} has the marker {marker}");
        var start = text.IndexOf("```", at, StringComparison.Ordinal);
        start = text.IndexOf('\n', start) + 1;
        var end = text.IndexOf("```", start, StringComparison.Ordinal);
        return text[start..end];
    }

    private static async Task<JsonNode> RunJsonAsync(string file, IEnumerable<string> args)
    {
        var info = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = Encoding.UTF8,
            UseShellExecute = false,
        };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        info.Environment["PYTHONIOENCODING"] = "utf-8";
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"{Path.GetFileName(file)} {string.Join(' ', info.ArgumentList)} exited {process.ExitCode}: {await stderr}");
        return JsonNode.Parse(await stdout)!;
    }

    private static string FindRepo()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Harvester.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("The tests run from inside the repository (Harvester.sln not found above " + AppContext.BaseDirectory + ").");
    }
}

/// <summary>Reads RFC 4180 CSV (quoted cells with commas, quotes and line breaks) as rows of named cells.</summary>
internal static class CsvFile
{
    public static List<Dictionary<string, string>> Read(string path)
    {
        var records = Parse(File.ReadAllText(path));
        var header = records[0];
        return [.. records.Skip(1).Select(r =>
        {
            Assert.Equal(header.Count, r.Count);
            return header.Zip(r).ToDictionary(p => p.First, p => p.Second);
        })];
    }

    private static List<List<string>> Parse(string text)
    {
        var records = new List<List<string>>();
        var record = new List<string>();
        var cell = new StringBuilder();
        var quoted = false;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < text.Length && text[i + 1] == '"')
                {
                    cell.Append('"');
                    i++;
                }
                else if (c == '"')
                {
                    quoted = false;
                }
                else
                {
                    cell.Append(c);
                }
            }
            else if (c == '"')
            {
                quoted = true;
            }
            else if (c == ',')
            {
                record.Add(cell.ToString());
                cell.Clear();
            }
            else if (c == '\n')
            {
                record.Add(cell.ToString());
                cell.Clear();
                records.Add(record);
                record = [];
            }
            else
            {
                cell.Append(c);
            }
        }

        Assert.False(quoted, "unterminated quoted cell");
        Assert.True(cell.Length == 0 && record.Count == 0, "the file ends with a line break");
        return records;
    }
}
