namespace Harvester.Cluster;

/// <summary>
/// Row-major float32 matrix whose rows start on a 16-float boundary of the backing array (zero padding after
/// <see cref="Dimension"/>), so the SIMD kernels never need a scalar tail: zeros add nothing to dot products.
/// </summary>
public sealed class VectorMatrix
{
    public VectorMatrix(int rows, int dimension)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dimension);
        Rows = rows;
        Dimension = dimension;
        Stride = PadTo16(dimension);
        Data = new float[(long)rows * Stride];
    }

    public int Rows { get; }
    public int Dimension { get; }
    public int Stride { get; }
    public float[] Data { get; }

    public static int PadTo16(int n) => (n + 15) & ~15;

    public Span<float> Row(int i) => Data.AsSpan(i * Stride, Dimension);

    public Span<float> PaddedRow(int i) => Data.AsSpan(i * Stride, Stride);

    public static VectorMatrix FromRows(IReadOnlyList<float[]> rows)
    {
        ArgumentOutOfRangeException.ThrowIfZero(rows.Count);
        var m = new VectorMatrix(rows.Count, rows[0].Length);
        for (var i = 0; i < rows.Count; i++)
        {
            if (rows[i].Length != m.Dimension)
            {
                throw new ArgumentException($"Row {i} has {rows[i].Length} values, expected {m.Dimension}.", nameof(rows));
            }

            rows[i].CopyTo(m.Row(i));
        }

        return m;
    }

    /// <summary>A copy of the first <paramref name="rows"/> rows.</summary>
    public VectorMatrix Head(int rows)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(rows, Rows);
        var m = new VectorMatrix(rows, Dimension);
        Data.AsSpan(0, rows * Stride).CopyTo(m.Data);
        return m;
    }

    public float[][] ToRows()
    {
        var result = new float[Rows][];
        for (var i = 0; i < Rows; i++)
        {
            result[i] = Row(i).ToArray();
        }

        return result;
    }

    public VectorMatrix Clone()
    {
        var m = new VectorMatrix(Rows, Dimension);
        Data.CopyTo(m.Data, 0);
        return m;
    }
}
