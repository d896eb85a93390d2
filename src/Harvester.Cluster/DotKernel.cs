using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Harvester.Cluster;

/// <summary>
/// Dot products between rows of two matrices, register-blocked 4 x 4 (16 SIMD accumulators, each row pair read once
/// per 16 multiply-adds), the core of ||x||² − 2x·c + ||c||². Rows are padded to 16 floats so there is no scalar tail.
/// Every dot product is summed in the same order whatever thread runs it, so results are bit-for-bit reproducible.
/// </summary>
internal static class DotKernel
{
    /// <summary>output[r * b.Rows + j] = a.row(aStart + r) · b.row(j) for r in [0, count).</summary>
    public static void Strip(VectorMatrix a, int aStart, int count, VectorMatrix b, Span<float> output)
    {
        if (a.Stride != b.Stride)
        {
            throw new ArgumentException("Both matrices need the same dimension.", nameof(b));
        }

        var k = b.Rows;
        var stride = a.Stride;
        ref var a0 = ref a.Data[0];
        ref var b0 = ref b.Data.Length == 0 ? ref Unsafe.NullRef<float>() : ref b.Data[0];
        var r = 0;
        for (; r + 4 <= count; r += 4)
        {
            var rowOffset = (nuint)(aStart + r) * (nuint)stride;
            var j = 0;
            for (; j + 4 <= k; j += 4)
            {
                Block4x4(ref Unsafe.Add(ref a0, rowOffset), ref Unsafe.Add(ref b0, (nuint)j * (nuint)stride), stride, output.Slice(r * k + j), k);
            }

            for (; j < k; j++)
            {
                for (var rr = 0; rr < 4; rr++)
                {
                    output[(r + rr) * k + j] = Dot(ref Unsafe.Add(ref a0, rowOffset + (nuint)(rr * stride)), ref Unsafe.Add(ref b0, (nuint)j * (nuint)stride), stride);
                }
            }
        }

        for (; r < count; r++)
        {
            var rowOffset = (nuint)(aStart + r) * (nuint)stride;
            for (var j = 0; j < k; j++)
            {
                output[r * k + j] = Dot(ref Unsafe.Add(ref a0, rowOffset), ref Unsafe.Add(ref b0, (nuint)j * (nuint)stride), stride);
            }
        }
    }

    public static float Dot(ReadOnlySpan<float> x, ReadOnlySpan<float> y) => System.Numerics.Tensors.TensorPrimitives.Dot(x, y);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Block4x4(ref float a, ref float b, int stride, Span<float> output, int ld)
    {
        if (Vector512.IsHardwareAccelerated)
        {
            Block4x4V512(ref a, ref b, stride, output, ld);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            Block4x4V256(ref a, ref b, stride, output, ld);
        }
        else
        {
            for (var r = 0; r < 4; r++)
            {
                for (var j = 0; j < 4; j++)
                {
                    output[r * ld + j] = Dot(ref Unsafe.Add(ref a, (nuint)(r * stride)), ref Unsafe.Add(ref b, (nuint)(j * stride)), stride);
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Block4x4V512(ref float a, ref float b, int stride, Span<float> output, int ld)
    {
        var s = (nuint)stride;
        ref var a1 = ref Unsafe.Add(ref a, s);
        ref var a2 = ref Unsafe.Add(ref a, 2 * s);
        ref var a3 = ref Unsafe.Add(ref a, 3 * s);
        ref var b1 = ref Unsafe.Add(ref b, s);
        ref var b2 = ref Unsafe.Add(ref b, 2 * s);
        ref var b3 = ref Unsafe.Add(ref b, 3 * s);
        Vector512<float> c00 = default, c01 = default, c02 = default, c03 = default;
        Vector512<float> c10 = default, c11 = default, c12 = default, c13 = default;
        Vector512<float> c20 = default, c21 = default, c22 = default, c23 = default;
        Vector512<float> c30 = default, c31 = default, c32 = default, c33 = default;
        for (nuint i = 0; i < s; i += 16)
        {
            var x0 = Vector512.LoadUnsafe(ref a, i);
            var x1 = Vector512.LoadUnsafe(ref a1, i);
            var x2 = Vector512.LoadUnsafe(ref a2, i);
            var x3 = Vector512.LoadUnsafe(ref a3, i);
            var y = Vector512.LoadUnsafe(ref b, i);
            c00 = Vector512.FusedMultiplyAdd(x0, y, c00);
            c10 = Vector512.FusedMultiplyAdd(x1, y, c10);
            c20 = Vector512.FusedMultiplyAdd(x2, y, c20);
            c30 = Vector512.FusedMultiplyAdd(x3, y, c30);
            y = Vector512.LoadUnsafe(ref b1, i);
            c01 = Vector512.FusedMultiplyAdd(x0, y, c01);
            c11 = Vector512.FusedMultiplyAdd(x1, y, c11);
            c21 = Vector512.FusedMultiplyAdd(x2, y, c21);
            c31 = Vector512.FusedMultiplyAdd(x3, y, c31);
            y = Vector512.LoadUnsafe(ref b2, i);
            c02 = Vector512.FusedMultiplyAdd(x0, y, c02);
            c12 = Vector512.FusedMultiplyAdd(x1, y, c12);
            c22 = Vector512.FusedMultiplyAdd(x2, y, c22);
            c32 = Vector512.FusedMultiplyAdd(x3, y, c32);
            y = Vector512.LoadUnsafe(ref b3, i);
            c03 = Vector512.FusedMultiplyAdd(x0, y, c03);
            c13 = Vector512.FusedMultiplyAdd(x1, y, c13);
            c23 = Vector512.FusedMultiplyAdd(x2, y, c23);
            c33 = Vector512.FusedMultiplyAdd(x3, y, c33);
        }

        output[0] = Vector512.Sum(c00); output[1] = Vector512.Sum(c01); output[2] = Vector512.Sum(c02); output[3] = Vector512.Sum(c03);
        output[ld] = Vector512.Sum(c10); output[ld + 1] = Vector512.Sum(c11); output[ld + 2] = Vector512.Sum(c12); output[ld + 3] = Vector512.Sum(c13);
        output[2 * ld] = Vector512.Sum(c20); output[2 * ld + 1] = Vector512.Sum(c21); output[2 * ld + 2] = Vector512.Sum(c22); output[2 * ld + 3] = Vector512.Sum(c23);
        output[3 * ld] = Vector512.Sum(c30); output[3 * ld + 1] = Vector512.Sum(c31); output[3 * ld + 2] = Vector512.Sum(c32); output[3 * ld + 3] = Vector512.Sum(c33);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Block4x4V256(ref float a, ref float b, int stride, Span<float> output, int ld)
    {
        // 16 accumulators + 4 row registers + 1 column register need more than AVX2's 16 registers: two passes of 4 x 2.
        var s = (nuint)stride;
        for (var half = 0; half < 2; half++)
        {
            ref var bj0 = ref Unsafe.Add(ref b, (nuint)(2 * half) * s);
            ref var bj1 = ref Unsafe.Add(ref bj0, s);
            ref var a1 = ref Unsafe.Add(ref a, s);
            ref var a2 = ref Unsafe.Add(ref a, 2 * s);
            ref var a3 = ref Unsafe.Add(ref a, 3 * s);
            Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default;
            Vector256<float> c20 = default, c21 = default, c30 = default, c31 = default;
            for (nuint i = 0; i < s; i += 8)
            {
                var y0 = Vector256.LoadUnsafe(ref bj0, i);
                var y1 = Vector256.LoadUnsafe(ref bj1, i);
                var x = Vector256.LoadUnsafe(ref a, i);
                c00 = Vector256.FusedMultiplyAdd(x, y0, c00);
                c01 = Vector256.FusedMultiplyAdd(x, y1, c01);
                x = Vector256.LoadUnsafe(ref a1, i);
                c10 = Vector256.FusedMultiplyAdd(x, y0, c10);
                c11 = Vector256.FusedMultiplyAdd(x, y1, c11);
                x = Vector256.LoadUnsafe(ref a2, i);
                c20 = Vector256.FusedMultiplyAdd(x, y0, c20);
                c21 = Vector256.FusedMultiplyAdd(x, y1, c21);
                x = Vector256.LoadUnsafe(ref a3, i);
                c30 = Vector256.FusedMultiplyAdd(x, y0, c30);
                c31 = Vector256.FusedMultiplyAdd(x, y1, c31);
            }

            var o = 2 * half;
            output[o] = Vector256.Sum(c00); output[o + 1] = Vector256.Sum(c01);
            output[ld + o] = Vector256.Sum(c10); output[ld + o + 1] = Vector256.Sum(c11);
            output[2 * ld + o] = Vector256.Sum(c20); output[2 * ld + o + 1] = Vector256.Sum(c21);
            output[3 * ld + o] = Vector256.Sum(c30); output[3 * ld + o + 1] = Vector256.Sum(c31);
        }
    }

    private static float Dot(ref float x, ref float y, int length) =>
        System.Numerics.Tensors.TensorPrimitives.Dot(
            System.Runtime.InteropServices.MemoryMarshal.CreateReadOnlySpan(ref x, length),
            System.Runtime.InteropServices.MemoryMarshal.CreateReadOnlySpan(ref y, length));
}
