using System.Runtime.InteropServices;

namespace Harvester.Export;

/// <summary>How many files an export placed by hard link and by copy.</summary>
public sealed record FilePlacement(int HardLinks, int Copies)
{
    public string Describe() => (HardLinks, Copies) switch
    {
        (0, 0) => "none",
        (_, 0) => $"{HardLinks} hard links to the blob store",
        (0, _) => $"{Copies} copies",
        _ => $"{HardLinks} hard links, {Copies} copies",
    };
}

/// <summary>
/// Puts a blob at a path in the export: a hard link when the blob store and the export share a filesystem (no bytes
/// copied, no space used), a copy otherwise. The first refusal that means "never on this filesystem" (another device,
/// no hard links) switches the rest of the export to copies, so a cross-device export costs one failed call, not one
/// per file.
/// </summary>
internal sealed partial class FilePlacer(ExportFiles mode)
{
    private const int EPERM = 1;
    private const int EXDEV = 18;
    private const int EMLINK = 31;
    private const int ENOSYS = 38;
    private const int EOPNOTSUPP = 95;

    private bool _copyOnly = mode == ExportFiles.Copy;
    private int _links;
    private int _copies;

    public FilePlacement Placement => new(_links, _copies);

    public void Place(string blob, string target)
    {
        if (!_copyOnly)
        {
            if (Link(blob, target) == 0)
            {
                _links++;
                return;
            }

            var errno = Marshal.GetLastPInvokeError();
            switch (errno)
            {
                case EXDEV or EPERM or ENOSYS or EOPNOTSUPP:
                    _copyOnly = true;
                    break;
                case EMLINK:
                    // This blob already has the filesystem's maximum number of links (many exports of it): copy this one.
                    break;
                default:
                    throw new IOException($"Cannot link {blob} to {target}: {Marshal.GetPInvokeErrorMessage(errno)}.");
            }
        }

        File.Copy(blob, target);
        _copies++;
    }

    [LibraryImport("libc", EntryPoint = "link", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Link(string existing, string created);
}
