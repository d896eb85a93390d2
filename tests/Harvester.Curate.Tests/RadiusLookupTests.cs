using Harvester.Imaging;
using System.Collections;
using System.Numerics;
using Harvester.Testing;
using Npgsql;
using NpgsqlTypes;

namespace Harvester.Curate.Tests;

public sealed class HashChunkTests
{
    [Theory]
    [InlineData(0, 1)]
    [InlineData(1, 17)]
    [InlineData(2, 137)]
    public void Probes_list_every_16_bit_value_within_the_chunk_radius_once_with_the_chunk_itself_first(int probeRadius, int expected)
    {
        const int chunk = 0b1010_0110_0001_1100;
        var probes = HashChunks.Probes(chunk, probeRadius);
        Assert.Equal(chunk, probes[0]);
        Assert.Equal(expected, probes.Length);
        Assert.Equal(expected, probes.Distinct().Count());
        Assert.All(probes, p => Assert.InRange(BitOperations.PopCount((uint)(p ^ chunk)), 0, probeRadius));
        Assert.All(probes, p => Assert.InRange(p, 0, 0xFFFF));
    }

    [Fact]
    public void Chunks_cut_the_hash_most_significant_first_and_the_probe_radius_follows_the_pigeonhole_principle()
    {
        const ulong hash = 0x1234_5678_9ABC_DEF0UL;
        Assert.Equal([0x1234, 0x5678, 0x9ABC, 0xDEF0], Enumerable.Range(0, HashChunks.Count).Select(c => HashChunks.Chunk(hash, c)));
        Assert.Equal(0, HashChunks.ProbeRadius(3));
        Assert.Equal(1, HashChunks.ProbeRadius(4));
        Assert.Equal(1, HashChunks.ProbeRadius(7));
        Assert.Equal(2, HashChunks.ProbeRadius(8));
    }
}

[Collection(PostgresCollection.Name)]
public sealed class RadiusLookupTests(PostgresFixture fixture) : IAsyncLifetime
{
    private Data.HarvesterDatabase _db = null!;

    public async Task InitializeAsync() => _db = await fixture.CreateDatabaseAsync("radius");

    public async Task DisposeAsync() => await _db.DisposeAsync();

    private sealed record Stored(long Id, ulong Hash, string Status);

    /// <summary>
    /// 20,000 random hashes plus, around <paramref name="query"/>, hashes at every distance 0..16: some with random
    /// bit flips, some with the flips spread evenly over the four chunks (the pigeonhole's worst case), some of them
    /// duplicates (never returned). Returns what the table holds.
    /// </summary>
    private async Task<List<Stored>> SeedAsync(NpgsqlConnection conn, ulong query, Random random)
    {
        var rows = new List<(ulong Hash, string Status)>();
        for (var i = 0; i < 20_000; i++)
        {
            rows.Add(((ulong)random.NextInt64() ^ ((ulong)random.Next(2) << 63), "accepted"));
        }

        for (var d = 0; d <= 16; d++)
        {
            for (var j = 0; j < 12; j++)
            {
                var bits = Enumerable.Range(0, 64).OrderBy(_ => random.Next()).Take(d).ToList();
                rows.Add((Flip(query, bits), j % 6 == 5 ? "duplicate" : j % 2 == 0 ? "accepted" : "rejected"));
            }

            // Spread: flip k-th bit of chunk (k mod 4), so every chunk differs in about d / 4 bits.
            var spread = Enumerable.Range(0, d).Select(k => ((k % HashChunks.Count) * HashChunks.Bits) + random.Next(HashChunks.Bits)).Distinct().ToList();
            rows.Add((Flip(query, spread), "accepted"));
        }

        await using (var copy = await conn.BeginBinaryImportAsync("COPY images (sha256, byte_size, source_url, status, phash, hash_version) FROM STDIN (FORMAT BINARY)"))
        {
            for (var i = 0; i < rows.Count; i++)
            {
                await copy.StartRowAsync();
                await copy.WriteAsync($"{i:x64}", NpgsqlDbType.Char);
                await copy.WriteAsync(1000L, NpgsqlDbType.Bigint);
                await copy.WriteAsync($"https://example.test/{i}.jpg", NpgsqlDbType.Text);
                await copy.WriteAsync(rows[i].Status, NpgsqlDbType.Text);
                await copy.WriteAsync(PerceptualHash.ToBits(rows[i].Hash), NpgsqlDbType.Bit);
                await copy.WriteAsync((short)PerceptualHash.Recipe, NpgsqlDbType.Smallint); // lookups never compare hashes of different recipes
            }

            await copy.CompleteAsync();
        }

        await using (var analyze = new NpgsqlCommand("VACUUM ANALYZE images", conn))
        {
            await analyze.ExecuteNonQueryAsync();
        }

        var stored = new List<Stored>();
        await using var read = new NpgsqlCommand("SELECT id, phash, status FROM images", conn);
        await using var r = await read.ExecuteReaderAsync();
        while (await r.ReadAsync())
        {
            stored.Add(new Stored(r.GetInt64(0), PerceptualHash.FromBits(r.GetFieldValue<BitArray>(1)), r.GetString(2)));
        }

        return stored;
    }

    private static ulong Flip(ulong hash, IEnumerable<int> bits) => bits.Aggregate(hash, (h, b) => h ^ (1UL << b));

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData(6)]
    [InlineData(9)]
    [InlineData(13)]
    public async Task Radius_lookup_returns_exactly_the_curated_hashes_within_the_radius_among_many_rows_nearest_first(int radius)
    {
        var random = new Random(1000 + radius);
        var query = (ulong)random.NextInt64();
        await using var conn = await _db.DataSource.OpenConnectionAsync();
        var stored = await SeedAsync(conn, query, random);
        var excluded = stored.First(s => s.Status == "accepted" && PerceptualHash.Hamming(s.Hash, query) == Math.Min(radius, 2)).Id;

        var expected = stored
            .Where(s => s.Status is "accepted" or "rejected" && s.Id != excluded)
            .Select(s => (s.Id, Distance: PerceptualHash.Hamming(s.Hash, query)))
            .Where(s => s.Distance <= radius)
            .OrderBy(s => s.Distance).ThenBy(s => s.Id)
            .ToList();
        var found = await CurateStore.WithinRadiusAsync(conn, null, query, radius, 1000, excluded, CancellationToken.None);

        Assert.True(expected.Count >= 5 * (radius + 1), $"the seed should plant many hashes within radius {radius}, planted {expected.Count}");
        Assert.Equal(expected, found.Select(n => (n.Id, n.Distance)));
        Assert.DoesNotContain(found, n => n.Id == excluded);

        var limited = await CurateStore.WithinRadiusAsync(conn, null, query, radius, 3, excluded, CancellationToken.None);
        Assert.Equal(expected.Take(3), limited.Select(n => (n.Id, n.Distance)));
    }

    [Fact]
    public async Task Chunk_columns_generated_by_postgresql_match_the_chunks_the_lookup_probes_and_their_indexes_serve_the_query()
    {
        var random = new Random(5);
        var query = (ulong)random.NextInt64();
        await using var conn = await _db.DataSource.OpenConnectionAsync();
        await SeedAsync(conn, query, random);

        await using (var read = new NpgsqlCommand("SELECT phash, phash_chunk0, phash_chunk1, phash_chunk2, phash_chunk3 FROM images ORDER BY id LIMIT 500", conn))
        {
            await using var r = await read.ExecuteReaderAsync();
            var n = 0;
            while (await r.ReadAsync())
            {
                var hash = PerceptualHash.FromBits(r.GetFieldValue<BitArray>(0));
                Assert.Equal(Enumerable.Range(0, HashChunks.Count).Select(c => HashChunks.Chunk(hash, c)), Enumerable.Range(1, 4).Select(r.GetInt32));
                n++;
            }

            Assert.Equal(500, n);
        }

        // The probes for radius 6 (chunk radius 1) go through the four chunk indexes, not a scan of every hash.
        var probes = Enumerable.Range(0, HashChunks.Count).Select(c => "'{" + string.Join(",", HashChunks.Probes(HashChunks.Chunk(query, c), 1)) + "}'::int[]").ToList();
        var bits = $"B'{Convert.ToString((long)query, 2).PadLeft(64, '0')}'";
        var sql = "EXPLAIN " + string.Join(" UNION ", probes.Select((p, c) => $"SELECT id FROM images WHERE phash_chunk{c} = ANY({p}) AND phash <~> {bits} <= 6"));
        await using var explain = new NpgsqlCommand(sql, conn);
        var plan = new List<string>();
        await using (var r = await explain.ExecuteReaderAsync())
        {
            while (await r.ReadAsync())
            {
                plan.Add(r.GetString(0));
            }
        }

        var text = string.Join("\n", plan);
        Assert.All(Enumerable.Range(0, HashChunks.Count), c => Assert.Contains($"ix_images_phash_chunk{c}", text, StringComparison.Ordinal));
        Assert.DoesNotContain("Seq Scan", text, StringComparison.Ordinal);
    }
}
