using Harvester.Core;
using Npgsql;
using Npgsql.EntityFrameworkCore.PostgreSQL.Infrastructure;

namespace Harvester.Data;

/// <summary>
/// The pipeline's states as PostgreSQL enum types, mapped the same way for EF and for plain Npgsql commands, so a
/// status is a type in both languages: a parameter is the C# enum, a typo in SQL ('acepted') is an error, and labels
/// read naturally in SQL (WHERE status = 'accepted', kind = 'perceptual_hash').
/// </summary>
public static class PipelineEnums
{
    public static NpgsqlDataSourceBuilder Map(NpgsqlDataSourceBuilder b)
    {
        b.MapEnum<ImageStatus>("image_status");
        b.MapEnum<FrontierState>("frontier_state");
        b.MapEnum<FrontierKind>("frontier_kind");
        b.MapEnum<JobStatus>("job_status");
        b.MapEnum<RunStatus>("run_status");
        b.MapEnum<DuplicateKind>("duplicate_kind");
        return b;
    }

    public static NpgsqlDbContextOptionsBuilder Map(NpgsqlDbContextOptionsBuilder o) => o
        .MapEnum<ImageStatus>("image_status")
        .MapEnum<FrontierState>("frontier_state")
        .MapEnum<FrontierKind>("frontier_kind")
        .MapEnum<JobStatus>("job_status")
        .MapEnum<RunStatus>("run_status")
        .MapEnum<DuplicateKind>("duplicate_kind");
}
