using System.Text.Json;
using System.Text.RegularExpressions;
using Harvester.Testing;
using Npgsql;

namespace Harvester.Data.Tests;

/// <summary>
/// A database shaped like a real one for the planner: 6,000 images with 512-d vectors of model 1 (the default model's
/// dimension, as the docs write it), pHashes, places and sightings, analysed.
/// </summary>
public sealed class DocSqlDatabase(PostgresFixture fixture) : IAsyncLifetime
{
    public const int Images = 6_000;

    public HarvesterDatabase Db { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Db = await fixture.CreateDatabaseAsync("docsql");
        await NearestFunctionTests.SeedAsync(Db, Images, 512, "resnet18-imagenet"); // the default model, as the docs name it
        await using var conn = await Db.DataSource.OpenConnectionAsync();
        await using var cmd = new NpgsqlCommand("""
            UPDATE images SET phash = ((floor(random() * 4294967296)::bigint << 32) | floor(random() * 4294967296)::bigint)::bit(64);
            ANALYZE;
            """, conn)
        {
            // Seeding is not what is tested: on a shared, loaded machine (load 60 on 2 cores) it outlasted the default 30 s.
            CommandTimeout = 300,
        };
        await cmd.ExecuteNonQueryAsync();
    }

    public async Task DisposeAsync() => await Db.DisposeAsync();
}

/// <summary>
/// Every SQL block in README.md and docs/*.md, run against a database large enough for the planner to prefer an index:
/// a nearest-neighbour query that sorts a full scan of an HNSW-indexed table (the join form that looks right and
/// takes seconds at a million images) fails the test, so the docs cannot drift into slow queries.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed partial class DocSqlPlanTests(DocSqlDatabase seeded)
    : IClassFixture<DocSqlDatabase>
{
    private static readonly string[] DistanceOperators = ["<=>", "<->", "<#>", "<+>", "<~>", "<%>"];

    [Fact]
    public async Task Every_nearest_neighbour_query_in_the_docs_reaches_an_index()
    {
        var statements = DocStatements().ToList();
        Assert.True(statements.Count >= 20, $"only {statements.Count} SQL statements found in README.md and docs/: the block parser is broken");

        var hnswTables = await HnswTablesAsync();
        Assert.Contains("embeddings", hnswTables);
        Assert.Contains("images", hnswTables);

        var failures = new List<string>();
        var indexOrdered = 0;
        await using var conn = await seeded.Db.DataSource.OpenConnectionAsync();
        foreach (var (file, sql) in statements)
        {
            try
            {
                foreach (var plan in await PlansAsync(conn, sql))
                {
                    indexOrdered += CountIndexOrderedScans(plan);
                    if (SortedFullScan(plan, hnswTables) is { } table)
                    {
                        failures.Add($"{file}: sorts a full scan of {table} by distance instead of using its HNSW index:\n{sql}");
                    }
                }
            }
            catch (PostgresException e)
            {
                failures.Add($"{file}: {e.SqlState} {e.MessageText}:\n{sql}");
            }
        }

        Assert.True(failures.Count == 0, string.Join("\n\n", failures));

        // The README's function calls and the docs' raw queries: each one is an index-ordered scan somewhere.
        Assert.True(indexOrdered >= 6, $"only {indexOrdered} index-ordered scans across the docs' plans");
    }

    [Fact]
    public async Task The_check_catches_the_join_form_that_never_used_the_index()
    {
        // The query README.md once showed: the query vector joined in, then ORDER BY distance.
        const string joined = """
            SELECT e.image_id, e.embedding::vector(512) <=> q.v AS distance
            FROM embeddings e, (SELECT embedding::vector(512) AS v FROM embeddings WHERE image_id = 42 AND model_id = 1) q
            WHERE e.model_id = 1 AND e.image_id <> 42 ORDER BY distance LIMIT 10
            """;
        const string scalar = """
            SELECT e.image_id, e.embedding::vector(512) <=> (SELECT embedding::vector(512) FROM embeddings WHERE image_id = 42 AND model_id = 1) AS distance
            FROM embeddings e WHERE e.model_id = 1 AND e.image_id <> 42 ORDER BY distance LIMIT 10
            """;
        var tables = await HnswTablesAsync();
        await using var conn = await seeded.Db.DataSource.OpenConnectionAsync();

        var bad = await PlansAsync(conn, joined);
        Assert.Equal("embeddings", bad.Select(p => SortedFullScan(p, tables)).Single(t => t is not null));

        var good = await PlansAsync(conn, scalar);
        Assert.All(good, p => Assert.Null(SortedFullScan(p, tables)));
        Assert.Equal(1, good.Sum(CountIndexOrderedScans));
    }

    /// <summary>
    /// The plans of one statement. SELECT/WITH: EXPLAIN (FORMAT JSON), and, when it calls the harvester.* functions,
    /// also the plans of the statements those run (auto_explain at notice level, nested statements included).
    /// Anything else (SET, BEGIN, COMMIT) is executed.
    /// </summary>
    private static async Task<List<JsonElement>> PlansAsync(NpgsqlConnection conn, string sql)
    {
        var plans = new List<JsonElement>();
        if (!StartsWithQuery().IsMatch(sql))
        {
            await using var run = new NpgsqlCommand(sql, conn);
            await run.ExecuteNonQueryAsync();
            return plans;
        }

        await using (var explain = new NpgsqlCommand("EXPLAIN (FORMAT JSON) " + sql, conn))
        {
            using var doc = JsonDocument.Parse((string)(await explain.ExecuteScalarAsync())!);
            plans.Add(doc.RootElement[0].GetProperty("Plan").Clone());
        }

        if (!sql.Contains("harvester.", StringComparison.Ordinal))
        {
            return plans;
        }

        var notices = new List<string>();
        void OnNotice(object? sender, NpgsqlNoticeEventArgs e) => notices.Add(e.Notice.MessageText);
        await using (var setup = new NpgsqlCommand("""
            LOAD 'auto_explain';
            SET auto_explain.log_min_duration = 0;
            SET auto_explain.log_nested_statements = on;
            SET auto_explain.log_format = json;
            SET auto_explain.log_level = notice;
            """, conn))
        {
            await setup.ExecuteNonQueryAsync();
        }

        conn.Notice += OnNotice;
        try
        {
            await using var run = new NpgsqlCommand(sql, conn);
            await using var reader = await run.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
            }
        }
        finally
        {
            conn.Notice -= OnNotice;
            await using var reset = new NpgsqlCommand("SET auto_explain.log_min_duration = -1", conn);
            await reset.ExecuteNonQueryAsync();
        }

        foreach (var notice in notices)
        {
            var start = notice.IndexOf('{', StringComparison.Ordinal);
            if (start >= 0)
            {
                using var doc = JsonDocument.Parse(notice[start..]);
                plans.Add(doc.RootElement.GetProperty("Plan").Clone());
            }
        }

        Assert.True(plans.Count > 1, "auto_explain returned no plans for the function's statements:\n" + sql);
        return plans;
    }

    /// <summary>The HNSW-indexed table under a Sort by a distance operator, if the sort reads it by a sequential scan.</summary>
    private static string? SortedFullScan(JsonElement node, HashSet<string> hnswTables)
    {
        if (node.GetProperty("Node Type").GetString() is "Sort" or "Incremental Sort"
            && node.TryGetProperty("Sort Key", out var keys)
            && keys.EnumerateArray().Any(k => DistanceOperators.Any(op => k.GetString()!.Contains(op, StringComparison.Ordinal)))
            && Descendants(node).FirstOrDefault(n => n.GetProperty("Node Type").GetString() == "Seq Scan"
                && n.TryGetProperty("Relation Name", out var rel) && hnswTables.Contains(rel.GetString()!)) is { ValueKind: JsonValueKind.Object } scan)
        {
            return scan.GetProperty("Relation Name").GetString();
        }

        return Children(node).Select(c => SortedFullScan(c, hnswTables)).FirstOrDefault(t => t is not null);
    }

    /// <summary>Index scans that return rows in distance order (an HNSW index's "Order By").</summary>
    private static int CountIndexOrderedScans(JsonElement node) =>
        (node.GetProperty("Node Type").GetString() is "Index Scan" or "Index Only Scan" && node.TryGetProperty("Order By", out _) ? 1 : 0)
        + Children(node).Sum(CountIndexOrderedScans);

    private static IEnumerable<JsonElement> Descendants(JsonElement node) => Children(node).SelectMany(c => Descendants(c).Prepend(c));

    private static IEnumerable<JsonElement> Children(JsonElement node) =>
        node.TryGetProperty("Plans", out var plans) ? plans.EnumerateArray() : [];

    private async Task<HashSet<string>> HnswTablesAsync()
    {
        await using var cmd = seeded.Db.DataSource.CreateCommand("SELECT DISTINCT tablename FROM pg_indexes WHERE indexdef LIKE '% USING hnsw %'");
        await using var r = await cmd.ExecuteReaderAsync();
        var tables = new HashSet<string>(StringComparer.Ordinal);
        while (await r.ReadAsync())
        {
            tables.Add(r.GetString(0));
        }

        return tables;
    }

    /// <summary>Every statement of every ```sql block in README.md and docs/*.md, with the file it came from.</summary>
    internal static IEnumerable<(string File, string Sql)> DocStatements()
    {
        var files = Directory.GetFiles(RepoRoot.Combine("docs"), "*.md").Order(StringComparer.Ordinal).Prepend(RepoRoot.Combine("README.md"));
        foreach (var path in files)
        {
            var name = Path.GetRelativePath(RepoRoot.Path, path);
            foreach (Match block in SqlBlock().Matches(File.ReadAllText(path)))
            {
                foreach (var statement in Split(block.Groups[1].Value))
                {
                    yield return (name, statement);
                }
            }
        }
    }

    /// <summary>Splits at semicolons outside quotes and comments; drops comment-only pieces.</summary>
    private static IEnumerable<string> Split(string block)
    {
        var current = new System.Text.StringBuilder();
        var quoted = false;
        for (var i = 0; i < block.Length; i++)
        {
            var c = block[i];
            if (!quoted && c == '-' && i + 1 < block.Length && block[i + 1] == '-')
            {
                var end = block.IndexOf('\n', i);
                i = end < 0 ? block.Length : end;
                current.Append('\n');
                continue;
            }

            if (c == '\'')
            {
                quoted = !quoted;
            }

            if (c == ';' && !quoted)
            {
                if (current.ToString().Trim() is { Length: > 0 } s)
                {
                    yield return s;
                }

                current.Clear();
                continue;
            }

            current.Append(c);
        }

        if (current.ToString().Trim() is { Length: > 0 } last)
        {
            yield return last;
        }
    }

    [GeneratedRegex(@"^```sql\s*\n(.*?)^```", RegexOptions.Multiline | RegexOptions.Singleline)]
    private static partial Regex SqlBlock();

    [GeneratedRegex(@"^\s*(SELECT|WITH)\b", RegexOptions.IgnoreCase)]
    private static partial Regex StartsWithQuery();
}
