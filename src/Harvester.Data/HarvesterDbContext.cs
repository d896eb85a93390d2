using Harvester.Core;
using Harvester.Data.Entities;
using Microsoft.EntityFrameworkCore;

namespace Harvester.Data;

public sealed class HarvesterDbContext(DbContextOptions<HarvesterDbContext> options) : DbContext(options)
{
    public DbSet<Site> Sites => Set<Site>();
    public DbSet<CrawlJob> CrawlJobs => Set<CrawlJob>();
    public DbSet<FrontierItem> Frontier => Set<FrontierItem>();
    public DbSet<CrawlScheduleTick> CrawlScheduleTicks => Set<CrawlScheduleTick>();
    public DbSet<Place> Places => Set<Place>();
    public DbSet<Product> Products => Set<Product>();
    public DbSet<Review> Reviews => Set<Review>();
    public DbSet<Image> Images => Set<Image>();
    public DbSet<ImageSighting> ImageSightings => Set<ImageSighting>();
    public DbSet<DuplicateGroup> DuplicateGroups => Set<DuplicateGroup>();
    public DbSet<EmbeddingModel> EmbeddingModels => Set<EmbeddingModel>();
    public DbSet<Embedding> Embeddings => Set<Embedding>();
    public DbSet<ClusteringRun> ClusteringRuns => Set<ClusteringRun>();
    public DbSet<ClusterCentroid> ClusterCentroids => Set<ClusterCentroid>();
    public DbSet<ClusterAssignment> ClusterAssignments => Set<ClusterAssignment>();
    public DbSet<ClusterRating> ClusterRatings => Set<ClusterRating>();
    public DbSet<WorkLease> WorkLeases => Set<WorkLease>();
    public DbSet<WorkerProcess> Workers => Set<WorkerProcess>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.HasPostgresExtension("vector");

        modelBuilder.Entity<Site>(e =>
        {
            e.HasIndex(x => x.Key).IsUnique();
            e.Property(x => x.CreatedAt).HasDefaultValueSql("now()");
        });

        modelBuilder.Entity<CrawlJob>(e =>
        {
            e.HasOne(x => x.Site).WithMany().HasForeignKey(x => x.SiteId);
            e.Property(x => x.CreatedAt).HasDefaultValueSql("now()");
            e.HasIndex(x => x.Status);
        });

        modelBuilder.Entity<FrontierItem>(e =>
        {
            e.ToTable("frontier");
            e.HasOne<CrawlJob>().WithMany().HasForeignKey(x => x.JobId).OnDelete(DeleteBehavior.Cascade);
            e.HasOne<FrontierItem>().WithMany().HasForeignKey(x => x.ParentId).OnDelete(DeleteBehavior.SetNull);
            // A URL is queued once per job, kind and owner: re-discovering it after a resume is a no-op, while the same
            // photo URL shown by a second place is a second item (its own sighting).
            e.HasIndex(x => new { x.JobId, x.Kind, x.Url, x.Owner }).IsUnique();
            e.Property(x => x.Owner).HasDefaultValue("");
            // Claim query: pending (or lease-expired) rows of a job in priority order.
            e.HasIndex(x => new { x.JobId, x.State, x.Priority });
            // Finding the claims of dead processes reads only the few claimed rows.
            e.HasIndex(x => x.ClaimedBy).HasFilter("state = 'claimed'");
            e.Property(x => x.CreatedAt).HasDefaultValueSql("now()");
            e.Property(x => x.UpdatedAt).HasDefaultValueSql("now()");
        });

        modelBuilder.Entity<CrawlScheduleTick>(e =>
        {
            e.HasKey(x => new { x.Schedule, x.DueAt });
            e.HasOne<CrawlJob>().WithMany().HasForeignKey(x => x.JobId).OnDelete(DeleteBehavior.SetNull);
            e.Property(x => x.CreatedAt).HasDefaultValueSql("now()");
        });

        modelBuilder.Entity<Place>(e =>
        {
            e.HasOne<Site>().WithMany().HasForeignKey(x => x.SiteId);
            e.HasIndex(x => new { x.SiteId, x.ExternalId }).IsUnique();
            e.HasIndex(x => x.Neighbourhood);
            e.HasIndex(x => x.Category);
            e.Property(x => x.CreatedAt).HasDefaultValueSql("now()");
        });

        modelBuilder.Entity<Product>(e =>
        {
            e.HasOne<Site>().WithMany().HasForeignKey(x => x.SiteId);
            e.HasIndex(x => new { x.SiteId, x.ExternalId }).IsUnique();
            e.HasIndex(x => x.Category);
            e.Property(x => x.CreatedAt).HasDefaultValueSql("now()");
        });

        modelBuilder.Entity<Review>(e =>
        {
            e.HasOne<Site>().WithMany().HasForeignKey(x => x.SiteId);
            e.HasOne<Place>().WithMany().HasForeignKey(x => x.PlaceId);
            e.HasOne<Product>().WithMany().HasForeignKey(x => x.ProductId);
            e.HasIndex(x => new { x.SiteId, x.ExternalId }).IsUnique();
            e.Property(x => x.CreatedAt).HasDefaultValueSql("now()");
        });

        modelBuilder.Entity<Image>(e =>
        {
            e.Property(x => x.Sha256).HasColumnType("text");
            e.HasIndex(x => x.Sha256).IsUnique();
            e.HasIndex(x => x.PixelHash);
            e.HasIndex(x => x.Status);
            e.Property(x => x.PHash).HasColumnType("bit(64)").HasColumnName("phash");
            e.Property(x => x.DHash).HasColumnType("bit(64)").HasColumnName("dhash");
            // Near-duplicate lookup at ingest: k-NN by Hamming distance on the perceptual hash.
            e.HasIndex(x => x.PHash).HasMethod("hnsw").HasOperators("bit_hamming_ops").HasDatabaseName("ix_images_phash_hnsw");
            // Exact lookup within a Hamming radius (multi-index hashing): the pHash cut into four 16-bit chunks, each
            // b-tree indexed with the hash and id alongside so candidates are checked with <~> from the index alone.
            for (var c = 0; c < 4; c++)
            {
                e.Property<int?>($"PHashChunk{c}").HasColumnName($"phash_chunk{c}")
                    .HasComputedColumnSql($"substring(phash from {1 + (16 * c)} for 16)::int", stored: true);
                e.HasIndex($"PHashChunk{c}").IncludeProperties(nameof(Image.PHash), nameof(Image.Id)).HasDatabaseName($"ix_images_phash_chunk{c}");
            }

            e.HasIndex(x => x.PlaceId);
            e.HasIndex(x => x.ProductId);
            e.HasIndex(x => x.DuplicateGroupId);
            e.HasOne<Place>().WithMany().HasForeignKey(x => x.PlaceId);
            e.HasOne<Product>().WithMany().HasForeignKey(x => x.ProductId);
            e.HasOne<Review>().WithMany().HasForeignKey(x => x.ReviewId);
            e.HasOne<CrawlJob>().WithMany().HasForeignKey(x => x.JobId).OnDelete(DeleteBehavior.SetNull);
            e.HasOne<Image>().WithMany().HasForeignKey(x => x.DuplicateOfId);
            e.HasOne<DuplicateGroup>().WithMany().HasForeignKey(x => x.DuplicateGroupId).OnDelete(DeleteBehavior.SetNull);
            e.Property(x => x.CreatedAt).HasDefaultValueSql("now()");
        });

        modelBuilder.Entity<ImageSighting>(e =>
        {
            e.HasOne<Image>().WithMany().HasForeignKey(x => x.ImageId).OnDelete(DeleteBehavior.Cascade);
            e.HasOne<Site>().WithMany().HasForeignKey(x => x.SiteId);
            e.HasOne<Place>().WithMany().HasForeignKey(x => x.PlaceId);
            e.HasOne<Product>().WithMany().HasForeignKey(x => x.ProductId);
            e.HasOne<Review>().WithMany().HasForeignKey(x => x.ReviewId);
            e.HasOne<CrawlJob>().WithMany().HasForeignKey(x => x.JobId).OnDelete(DeleteBehavior.SetNull);
            e.HasIndex(x => new { x.ImageId, x.SourceUrl, x.PlaceId, x.ProductId }).IsUnique().AreNullsDistinct(false);
            e.HasIndex(x => x.PlaceId);
            e.Property(x => x.SeenAt).HasDefaultValueSql("now()");
        });

        modelBuilder.Entity<DuplicateGroup>(e =>
        {
            e.HasOne<Image>().WithMany().HasForeignKey(x => x.KeptImageId);
            e.Property(x => x.CreatedAt).HasDefaultValueSql("now()");
        });

        modelBuilder.Entity<EmbeddingModel>(e =>
        {
            e.HasIndex(x => new { x.Name, x.Version }).IsUnique();
            e.Property(x => x.VectorType).HasMaxLength(16);
            e.ToTable(t => t.HasCheckConstraint("ck_embedding_models_vector_type", "vector_type IN ('vector','halfvec')"));
            e.Property(x => x.CreatedAt).HasDefaultValueSql("now()");
        });

        modelBuilder.Entity<Embedding>(e =>
        {
            e.HasKey(x => new { x.ImageId, x.ModelId });
            e.HasOne<Image>().WithMany().HasForeignKey(x => x.ImageId).OnDelete(DeleteBehavior.Cascade);
            e.HasOne<EmbeddingModel>().WithMany().HasForeignKey(x => x.ModelId).OnDelete(DeleteBehavior.Cascade);
            e.HasIndex(x => x.ModelId);
            e.Property(x => x.Vector).HasColumnType("vector").HasColumnName("embedding");
            e.Property(x => x.CreatedAt).HasDefaultValueSql("now()");
        });

        modelBuilder.Entity<ClusteringRun>(e =>
        {
            e.HasOne<EmbeddingModel>().WithMany().HasForeignKey(x => x.ModelId);
            e.HasOne<ClusteringRun>().WithMany().HasForeignKey(x => x.PreviousRunId);
            e.Property(x => x.StartedAt).HasDefaultValueSql("now()");
        });

        modelBuilder.Entity<ClusterCentroid>(e =>
        {
            e.HasKey(x => new { x.RunId, x.ClusterIndex });
            e.HasOne<ClusteringRun>().WithMany().HasForeignKey(x => x.RunId).OnDelete(DeleteBehavior.Cascade);
            e.Property(x => x.Centroid).HasColumnType("vector");
        });

        modelBuilder.Entity<ClusterAssignment>(e =>
        {
            e.HasKey(x => new { x.RunId, x.ImageId });
            e.HasOne<ClusteringRun>().WithMany().HasForeignKey(x => x.RunId).OnDelete(DeleteBehavior.Cascade);
            e.HasOne<Image>().WithMany().HasForeignKey(x => x.ImageId).OnDelete(DeleteBehavior.Cascade);
            e.HasIndex(x => new { x.RunId, x.ClusterIndex });
        });

        modelBuilder.Entity<ClusterRating>(e =>
        {
            e.HasKey(x => new { x.RunId, x.ClusterIndex, x.Rater });
            e.HasOne<ClusteringRun>().WithMany().HasForeignKey(x => x.RunId).OnDelete(DeleteBehavior.Cascade);
            e.Property(x => x.RatedAt).HasDefaultValueSql("now()");
            e.ToTable(t => t.HasCheckConstraint("ck_cluster_ratings_rating", "rating BETWEEN 1 AND 5"));
        });

        modelBuilder.Entity<WorkLease>(e =>
        {
            e.HasKey(x => new { x.Stage, x.ItemId });
            e.HasIndex(x => x.LeaseUntil);
        });

        modelBuilder.Entity<WorkerProcess>(e =>
        {
            e.ToTable("workers");
            e.HasKey(x => x.Id);
            e.HasIndex(x => x.LastBeatAt);
        });
    }
}
