using Harvester.Data;
using Harvester.Imaging;
using Harvester.Testing;
using Npgsql;
using NpgsqlTypes;

namespace Harvester.Curate.Tests;

[Collection(PostgresCollection.Name)]
public sealed class HammingSqlTests(PostgresFixture fixture) : IAsyncLifetime
{
    private Data.HarvesterDatabase _db = null!;

    public async Task InitializeAsync() => _db = await fixture.CreateDatabaseAsync("hamming");

    public async Task DisposeAsync() => await _db.DisposeAsync();

    [Fact]
    public async Task Pgvector_hamming_operator_agrees_with_the_in_process_distance_and_the_text_form_reads_like_the_ulong()
    {
        var random = new Random(7);
        await using var conn = await _db.DataSource.OpenConnectionAsync();
        for (var i = 0; i < 200; i++)
        {
            var a = (ulong)random.NextInt64() ^ ((ulong)random.Next(2) << 63);
            var b = a ^ (1UL << random.Next(64)) ^ (ulong)random.NextInt64(0, 1 << 20);
            await using var cmd = new NpgsqlCommand("SELECT ($1 <~> $2)::int, $1::text", conn);
            cmd.Parameters.Add(new NpgsqlParameter { Value = PerceptualHash.ToBits(a), NpgsqlDbType = NpgsqlDbType.Bit });
            cmd.Parameters.Add(new NpgsqlParameter { Value = PerceptualHash.ToBits(b), NpgsqlDbType = NpgsqlDbType.Bit });
            await using var r = await cmd.ExecuteReaderAsync();
            await r.ReadAsync();
            Assert.Equal(PerceptualHash.Hamming(a, b), r.GetInt32(0));
            Assert.Equal(Convert.ToString((long)a, 2).PadLeft(64, '0'), r.GetString(1));
        }
    }

    [Fact]
    public async Task Nearest_lookup_uses_the_hnsw_index_and_finds_the_planted_neighbours_among_many_hashes()
    {
        var random = new Random(11);
        var query = (ulong)random.NextInt64();
        await using var conn = await _db.DataSource.OpenConnectionAsync();
        await using (var copy = await conn.BeginBinaryImportAsync("COPY images (sha256, byte_size, source_url, status, phash) FROM STDIN (FORMAT BINARY)"))
        {
            for (var i = 0; i < 5000; i++)
            {
                // Three planted near copies (distances 1, 3, 5); the rest random (expected distance 32).
                var h = i switch { 100 => query ^ 1UL, 2000 => query ^ 0b111UL, 4000 => query ^ 0b11111UL, _ => (ulong)random.NextInt64() ^ ((ulong)random.Next(2) << 63) };
                await copy.StartRowAsync();
                await copy.WriteAsync($"{i:x64}", NpgsqlDbType.Char);
                await copy.WriteAsync(1000L, NpgsqlDbType.Bigint);
                await copy.WriteAsync($"https://example.test/{i}.jpg", NpgsqlDbType.Text);
                await copy.WriteAsync("accepted", NpgsqlDbType.Text);
                await copy.WriteAsync(PerceptualHash.ToBits(h), NpgsqlDbType.Bit);
            }

            await copy.CompleteAsync();
        }

        // Hashes of the current recipe: the lookups never compare hashes of different recipes.
        await using (var recipe = new NpgsqlCommand($"UPDATE images SET hash_version = {PerceptualHash.Recipe}", conn))
        {
            await recipe.ExecuteNonQueryAsync();
        }

        await using (var analyze = new NpgsqlCommand("ANALYZE images", conn))
        {
            await analyze.ExecuteNonQueryAsync();
        }

        await using (var explain = new NpgsqlCommand(
            $"EXPLAIN SELECT id FROM images ORDER BY phash <~> B'{Convert.ToString((long)query, 2).PadLeft(64, '0')}' LIMIT 5", conn))
        {
            var plan = string.Join("\n", await ReadAllAsync(explain));
            Assert.Contains("ix_images_phash_hnsw", plan, StringComparison.Ordinal);
        }

        var near = await CurateStore.NearestAsync(conn, null, query, 5, -1, CancellationToken.None);
        Assert.Equal([1, 3, 5], near.Take(3).Select(n => n.Distance));
        Assert.True(near.Skip(3).All(n => n.Distance > 8));
    }

    private static async Task<List<string>> ReadAllAsync(NpgsqlCommand cmd)
    {
        var lines = new List<string>();
        await using var r = await cmd.ExecuteReaderAsync();
        while (await r.ReadAsync())
        {
            lines.Add(r.GetString(0));
        }

        return lines;
    }
}
