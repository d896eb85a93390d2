using Harvester.Data;
using Harvester.DemoSite.Corpus;
using Harvester.Testing;
using OpenCvSharp;

namespace Harvester.Embed.Tests;

/// <summary>The near-copy pass: copies the hashes miss are folded into duplicate groups; distinct photos are not.</summary>
[Collection(PostgresCollection.Name)]
public sealed class NearCopyTests(PostgresFixture fixture) : IAsyncLifetime
{
    private HarvesterDatabase _db = null!;

    public async Task InitializeAsync() => _db = await fixture.CreateDatabaseAsync("nearcopy");

    public async Task DisposeAsync() => await _db.DisposeAsync();

    private static byte[] Mirror(byte[] jpeg)
    {
        using var m = Cv2.ImDecode(jpeg, ImreadModes.Color);
        using var flipped = new Mat();
        Cv2.Flip(m, flipped, FlipMode.Y);
        return flipped.ImEncode(".jpg", new ImageEncodingParam(ImwriteFlags.JpegQuality, 88));
    }

    private async Task<List<(long Id, string Status, long? Group, long? Of)>> StatesAsync(long[] ids)
    {
        await using var cmd = _db.DataSource.CreateCommand("SELECT id, status::text, duplicate_group_id, duplicate_of_id FROM images WHERE id = ANY($1) ORDER BY id");
        cmd.Parameters.Add(new Npgsql.NpgsqlParameter { Value = ids });
        var list = new List<(long, string, long?, long?)>();
        await using var r = await cmd.ExecuteReaderAsync();
        while (await r.ReadAsync())
        {
            list.Add((r.GetInt64(0), r.GetString(1), r.IsDBNull(2) ? null : r.GetInt64(2), r.IsDBNull(3) ? null : r.GetInt64(3)));
        }

        return list;
    }

    [Fact]
    public async Task Mirrored_cropped_and_overlaid_copies_fold_into_one_group_and_distinct_photos_do_not()
    {
        // A photo, its mirror, a crop and a captioned copy; beside them the next tile of the same source photo (a
        // distinct photo of the same scene: the hard case for embeddings) and two photos from other sources.
        var corpus = PhotoCorpus.Distinct();
        var scene = corpus.GroupBy(p => p.SourcePath).First(g => g.Count() >= 3 && g.Key.Contains("/nature/", StringComparison.Ordinal)).ToList();
        var original = PhotoCorpus.RenderJpeg(scene[0], 640);
        var others = corpus.Where(p => p.SourcePath != scene[0].SourcePath).DistinctBy(p => p.SourcePath).Take(2).ToList();
        byte[][] images =
        [
            original,
            Mirror(original),
            PhotoCorpus.Variant(original, VariantKind.Crop, 3),
            PhotoCorpus.Variant(original, VariantKind.TextOverlay, 5),
            PhotoCorpus.RenderJpeg(scene[1], 640),
            PhotoCorpus.RenderJpeg(others[0], 640),
            PhotoCorpus.RenderJpeg(others[1], 640),
        ];
        await using var host = new InferenceTestHost(_db, ResNet18Tests.ResNetSettings());
        var ids = await host.SeedImagesAsync(_db, images);
        await host.Get<EmbedService>().RunUntilDoneAsync(null, 16, CancellationToken.None);

        // Small passes, so the group grows across passes and claims.
        var first = await host.Get<NearCopyService>().RunUntilDoneAsync(null, 2, CancellationToken.None);
        var again = await host.Get<NearCopyService>().RunUntilDoneAsync(null, 2, CancellationToken.None);

        // An image folded into a group is no longer accepted and needs no check of its own.
        Assert.InRange(first.Checked, 4, images.Length);
        Assert.Equal(0, again.Claimed);
        var states = await StatesAsync(ids);
        var copies = states.Take(4).ToList();
        var group = Assert.Single(copies.Select(s => s.Group).Distinct());
        Assert.NotNull(group);
        var kept = Assert.Single(copies, s => s.Status == "accepted");
        Assert.All(copies.Where(s => s.Id != kept.Id), s => Assert.Equal(("duplicate", kept.Id), (s.Status, s.Of!.Value)));
        Assert.All(states.Skip(4), s => Assert.Equal(("accepted", (long?)null), (s.Status, s.Group)));
        await using (var kind = _db.DataSource.CreateCommand("SELECT kind::text, size, kept_image_id FROM duplicate_groups WHERE id = $1"))
        {
            kind.Parameters.Add(new Npgsql.NpgsqlParameter { Value = group!.Value });
            await using var r = await kind.ExecuteReaderAsync();
            Assert.True(await r.ReadAsync());
            Assert.Equal(("embedding", 4, kept.Id), (r.GetString(0), r.GetInt32(1), r.GetInt64(2)));
        }

        // Search sees the result: with --accepted-only the copies are gone, the kept image stays.
        var search = await host.Get<SimilarSearch>().NearestToImageAsync(ids[5], 6, new SearchFilter { AcceptedOnly = true }, null, CancellationToken.None);
        Assert.Contains(search.Neighbours, n => n.ImageId == kept.Id);
        Assert.DoesNotContain(search.Neighbours, n => copies.Any(c => c.Id == n.ImageId && c.Id != kept.Id));

        // A copy crawled later joins the same group on the next pass.
        var late = await host.SeedImagesAsync(_db, [Mirror(PhotoCorpus.Variant(original, VariantKind.Crop, 9))]);
        await host.Get<EmbedService>().RunUntilDoneAsync(null, 16, CancellationToken.None);
        var third = await host.Get<NearCopyService>().RunUntilDoneAsync(null, 8, CancellationToken.None);
        Assert.Equal(1, third.Checked);
        var lateState = Assert.Single(await StatesAsync(late));
        Assert.Equal(("duplicate", group), (lateState.Status, lateState.Group));
    }
}
