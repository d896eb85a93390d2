using Harvester.Core;
using Harvester.Data.Stages;
using Microsoft.Extensions.Options;

namespace Harvester.Data.Tests;

public sealed class BlobStoreTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("harvester-blobs-").FullName;

    [Fact]
    public async Task Temp_files_of_dead_writers_and_stale_unnamed_ones_are_swept_while_live_ones_stay()
    {
        var blobs = new BlobStore(Options.Create(new StorageOptions { BlobRoot = _root }));
        var sha = await blobs.PutAsync("a photo's bytes"u8.ToArray(), CancellationToken.None);
        var dir = Path.GetDirectoryName(blobs.PathFor(sha))!;

        using var child = System.Diagnostics.Process.Start("sleep", "0.1")!;
        var childStart = ProcessIdentity.StartTicks(child.Id)!.Value;
        await child.WaitForExitAsync();
        var me = ProcessIdentity.Current.Split(':');
        var dead = Path.Combine(dir, $"{sha}.{child.Id}-{childStart}.{Guid.NewGuid():N}.tmp");
        var live = Path.Combine(dir, $"{sha}.{me[1]}-{me[2]}.{Guid.NewGuid():N}.tmp");
        var staleUnnamed = Path.Combine(dir, $"{sha}.{Guid.NewGuid():N}.tmp");
        var freshUnnamed = Path.Combine(dir, $"{sha}.{Guid.NewGuid():N}.tmp");
        foreach (var f in new[] { dead, live, staleUnnamed, freshUnnamed })
        {
            await File.WriteAllTextAsync(f, "partial");
        }

        File.SetLastWriteTimeUtc(staleUnnamed, DateTime.UtcNow.AddHours(-2));

        var removed = blobs.RemoveOrphanedTempFiles(TimeSpan.FromHours(1), CancellationToken.None);

        Assert.Equal(2, removed);
        Assert.False(File.Exists(dead));
        Assert.False(File.Exists(staleUnnamed));
        Assert.True(File.Exists(live));
        Assert.True(File.Exists(freshUnnamed));
        Assert.True(blobs.Exists(sha), "the blob itself is never touched");
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);
}
