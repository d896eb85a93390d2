using System.Collections;
using System.Reflection;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Harvester.Core;

/// <summary>
/// Lists in configuration replace, they never merge. Two .NET defaults get this wrong for users: the binder appends a
/// configured array to the one a property starts with (a manifest's Mean [0,0,0] plus the configured three became six
/// values), and layered JSON files merge arrays by position (two entries over four left the last two standing).
/// </summary>
public static class ConfiguredLists
{
    /// <summary>BindConfiguration, then every list the section configures is bound afresh, replacing the default.</summary>
    public static OptionsBuilder<T> BindSection<T>(this OptionsBuilder<T> builder, string section)
        where T : class =>
        OptionsBuilderConfigurationExtensions.BindConfiguration(builder, section).PostConfigure<IConfiguration>((options, configuration) => Replace(options, configuration.GetSection(section)));

    /// <summary>Re-binds, on <paramref name="target"/> and the objects under it, each list property the section sets.</summary>
    public static void Replace(object target, IConfigurationSection section)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(section);
        foreach (var property in target.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (property.GetIndexParameters().Length > 0 || !property.CanRead)
            {
                continue;
            }

            var child = section.GetSection(property.Name);
            if (!child.GetChildren().Any())
            {
                continue;
            }

            var type = property.PropertyType;
            if (IsList(type))
            {
                if (property.CanWrite)
                {
                    property.SetValue(target, child.Get(type));
                }
            }
            else if (property.GetValue(target) is { } value && !IsScalar(type))
            {
                if (value is IDictionary dictionary)
                {
                    foreach (var entry in child.GetChildren())
                    {
                        if (dictionary.Contains(entry.Key) && dictionary[entry.Key] is { } item && !IsScalar(item.GetType()))
                        {
                            Replace(item, entry);
                        }
                    }
                }
                else
                {
                    Replace(value, child);
                }
            }
        }
    }

    /// <summary>
    /// Replaces the JSON file sources of <paramref name="configuration"/> (appsettings.json, --config) by one source
    /// holding their merge, objects merged key by key and arrays replaced whole. Later sources (environment
    /// variables) still override single keys.
    /// </summary>
    public static void MergeJsonFiles(IConfigurationManager configuration, IEnumerable<string> extraFiles)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var sources = configuration.Sources;
        var files = sources.OfType<Microsoft.Extensions.Configuration.Json.JsonConfigurationSource>().ToList();
        var position = files.Count > 0 ? sources.IndexOf(files[0]) : sources.Count;
        JsonNode merged = new JsonObject();
        foreach (var file in files)
        {
            var path = file.FileProvider?.GetFileInfo(file.Path ?? "").PhysicalPath ?? Path.Combine(AppContext.BaseDirectory, file.Path ?? "");
            if (path is not null && File.Exists(path))
            {
                merged = Merge(merged, Parse(path));
            }
            else if (!file.Optional)
            {
                throw new HarvesterException($"Configuration file {file.Path} does not exist.");
            }
        }

        foreach (var path in extraFiles)
        {
            merged = Merge(merged, Parse(path));
        }

        foreach (var file in files)
        {
            sources.Remove(file);
        }

        var bytes = System.Text.Encoding.UTF8.GetBytes(merged.ToJsonString());
        sources.Insert(Math.Min(position, sources.Count), new Microsoft.Extensions.Configuration.Json.JsonStreamConfigurationSource { Stream = new MemoryStream(bytes) });
    }

    /// <summary>Objects merge key by key (case-insensitively, as configuration keys are); anything else in the overlay wins whole.</summary>
    public static JsonNode Merge(JsonNode baseNode, JsonNode overlay)
    {
        if (baseNode is not JsonObject baseObject || overlay is not JsonObject overlayObject)
        {
            return overlay.DeepClone();
        }

        var result = (JsonObject)baseObject.DeepClone();
        foreach (var (key, value) in overlayObject)
        {
            var existing = result.FirstOrDefault(kv => string.Equals(kv.Key, key, StringComparison.OrdinalIgnoreCase));
            if (existing.Key is not null)
            {
                result.Remove(existing.Key);
                result[existing.Key] = existing.Value is null || value is null ? value?.DeepClone() : Merge(existing.Value, value);
            }
            else
            {
                result[key] = value?.DeepClone();
            }
        }

        return result;
    }

    private static JsonNode Parse(string path)
    {
        try
        {
            return JsonNode.Parse(File.ReadAllText(path), documentOptions: new System.Text.Json.JsonDocumentOptions
            {
                CommentHandling = System.Text.Json.JsonCommentHandling.Skip,
                AllowTrailingCommas = true,
            }) ?? new JsonObject();
        }
        catch (System.Text.Json.JsonException e)
        {
            throw new HarvesterException($"Configuration file {path} is not valid JSON: {e.Message}", e);
        }
    }

    private static bool IsList(Type type) =>
        type.IsArray || (type.IsGenericType && type.GetGenericTypeDefinition() is var d && (d == typeof(List<>) || d == typeof(IList<>) || d == typeof(IReadOnlyList<>) || d == typeof(IEnumerable<>)));

    private static bool IsScalar(Type type) =>
        type.IsPrimitive || type.IsEnum || type == typeof(string) || type == typeof(decimal) || type == typeof(TimeSpan) ||
        type == typeof(DateTime) || type == typeof(DateTimeOffset) || type == typeof(Uri) || Nullable.GetUnderlyingType(type) is not null;
}
