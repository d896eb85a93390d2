using Harvester.Testing;
using System.Buffers.Binary;
using System.Text;
using OpenCvSharp;

namespace Harvester.Imaging.Tests;

public sealed class DecoderTests
{
    private static readonly ImageDecoder Decoder = new(64L * 1024 * 1024, 40_000_000, 640);

    private static string RejectReason(byte[] data) => Assert.Throws<ImageRejectedException>(() => Decoder.Decode(data).Dispose()).Reason;

    [Fact]
    public void Jpeg_png_webp_gif_and_bmp_of_a_real_photo_decode_to_8_bit_bgr_with_the_original_size()
    {
        using var photo = TestImages.Read(TestImages.Chelsea);
        foreach (var (ext, format) in new[] { (".jpg", ImageFormat.Jpeg), (".png", ImageFormat.Png), (".webp", ImageFormat.WebP), (".gif", ImageFormat.Gif), (".bmp", ImageFormat.Bmp) })
        {
            using var d = Decoder.Decode(photo.ImEncode(ext));
            Assert.Equal(format, d.Header.Format);
            Assert.Equal((photo.Width, photo.Height), (d.Width, d.Height));
            Assert.Equal(MatType.CV_8UC3, d.Pixels.Type());
            var mean = Cv2.Mean(d.Pixels);
            var expected = Cv2.Mean(photo);
            Assert.InRange(Math.Abs(mean.Val0 - expected.Val0) + Math.Abs(mean.Val2 - expected.Val2), 0, 20);
        }
    }

    [Fact]
    public void Large_jpegs_are_decoded_at_a_reduced_scale_no_smaller_than_the_analysis_size()
    {
        var bytes = File.ReadAllBytes(TestImages.Landscape);
        var header = ImageHeader.Read(bytes);
        Assert.True(ImageDecoder.ReductionFor(header, 640) >= 2, $"{header.Width}x{header.Height}");
        using var d = Decoder.Decode(bytes);
        Assert.Equal((header.Width, header.Height), (d.Width, d.Height));
        Assert.Equal(640, Math.Max(d.Pixels.Width, d.Pixels.Height));
    }

    [Fact]
    public void Exif_orientation_6_turns_a_landscape_jpeg_into_a_portrait()
    {
        using var photo = TestImages.Read(TestImages.Chelsea);
        var rotated = WithExifOrientation(TestImages.Jpeg(photo), 6);
        using var d = Decoder.Decode(rotated);
        Assert.Equal(6, d.Header.Orientation);
        Assert.Equal((photo.Height, photo.Width), (d.Width, d.Height));
        Assert.True(d.Pixels.Height > d.Pixels.Width);
    }

    [Fact]
    public void Grayscale_16_bit_and_cmyk_images_are_normalised_to_8_bit_bgr()
    {
        using var photo = TestImages.Read(TestImages.Chelsea);
        using var grey = new Mat();
        Cv2.CvtColor(photo, grey, ColorConversionCodes.BGR2GRAY);
        using (var d = Decoder.Decode(TestImages.Jpeg(grey)))
        {
            Assert.Equal(MatType.CV_8UC3, d.Pixels.Type());
        }

        using var sixteen = new Mat();
        photo.ConvertTo(sixteen, MatType.CV_16UC3, 257);
        var png16 = TestImages.Png(sixteen);
        Assert.Equal(16, png16[24]);
        using (var d = Decoder.Decode(png16))
        {
            Assert.Equal(MatType.CV_8UC3, d.Pixels.Type());
            Assert.InRange(Math.Abs(Cv2.Mean(d.Pixels).Val1 - Cv2.Mean(photo).Val1), 0, 1);
        }

        // A CMYK JPEG (written by Pillow from the same cat photo) decodes to the cat's colours.
        using (var d = Decoder.Decode(File.ReadAllBytes(TestImages.Fixture("cmyk-chelsea.jpg"))))
        {
            Assert.Equal(MatType.CV_8UC3, d.Pixels.Type());
            var m = Cv2.Mean(d.Pixels);
            var e = Cv2.Mean(photo);
            Assert.InRange(Math.Abs(m.Val0 - e.Val0), 0, 25);
            Assert.InRange(Math.Abs(m.Val2 - e.Val2), 0, 25);
        }
    }

    [Fact]
    public void Transparent_pixels_become_white()
    {
        using var bgra = new Mat(100, 100, MatType.CV_8UC4, new Scalar(0, 0, 0, 0));
        bgra[new Rect(0, 0, 50, 100)].SetTo(new Scalar(0, 0, 255, 255));
        using var d = Decoder.Decode(TestImages.Png(bgra));
        Assert.Equal(new Vec3b(0, 0, 255), d.Pixels.At<Vec3b>(50, 10));
        Assert.Equal(new Vec3b(255, 255, 255), d.Pixels.At<Vec3b>(50, 90));
    }

    [Fact]
    public void Empty_truncated_and_non_image_files_are_rejected_with_their_reason()
    {
        using var photo = TestImages.Read(TestImages.Chelsea);
        var jpeg = TestImages.Jpeg(photo);
        var png = TestImages.Png(photo);
        Assert.Equal("empty-file", RejectReason([]));
        Assert.Equal("truncated", RejectReason(jpeg[..(jpeg.Length / 2)]));
        Assert.Equal("truncated", RejectReason(png[..(png.Length / 2)]));
        Assert.Equal("truncated", RejectReason(jpeg[..40]));
        Assert.Equal("svg", RejectReason(Encoding.UTF8.GetBytes("<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" height=\"10\"><rect/></svg>")));
        Assert.Equal("html", RejectReason(Encoding.UTF8.GetBytes("<!DOCTYPE html><html><head><title>Not found</title></head><body>404</body></html>")));
        Assert.Equal("not-an-image", RejectReason(Enumerable.Range(0, 4096).Select(i => (byte)((i * 7919) % 251)).ToArray()));
        Assert.Equal("not-an-image", RejectReason(Encoding.UTF8.GetBytes("{\"error\":\"rate limited\"}")));
    }

    [Fact]
    public void A_decompression_bomb_is_refused_from_its_header_before_decoding()
    {
        using var small = new Mat(8, 8, MatType.CV_8UC3, Scalar.All(128));
        var png = TestImages.Png(small);
        BinaryPrimitives.WriteUInt32BigEndian(png.AsSpan(16), 50_000);
        BinaryPrimitives.WriteUInt32BigEndian(png.AsSpan(20), 50_000);
        var e = Assert.Throws<ImageRejectedException>(() => Decoder.Decode(png).Dispose());
        Assert.Equal("decompression-bomb", e.Reason);
        Assert.Contains("2500000000", e.Message, StringComparison.Ordinal);

        var big = new ImageDecoder(1024, 40_000_000, 640);
        Assert.Equal("file-too-large", Assert.Throws<ImageRejectedException>(() => big.Decode(TestImages.Jpeg(small).Concat(new byte[2048]).ToArray()).Dispose()).Reason);
    }

    [Fact]
    public void Pixel_hash_is_equal_across_lossless_containers_and_metadata_but_not_across_photos()
    {
        using var photo = TestImages.Read(TestImages.Chelsea);
        var jpeg = TestImages.Jpeg(photo);
        using var png = Decoder.Decode(TestImages.Png(photo));
        using var bmp = Decoder.Decode(photo.ImEncode(".bmp"));
        using var a = Decoder.Decode(jpeg);
        using var withExif = Decoder.Decode(WithExifOrientation(jpeg, 1));
        using var other = Decoder.Decode(TestImages.Png(TestImages.Read(TestImages.Coffee)));
        Assert.Equal(png.PixelHash, bmp.PixelHash);
        Assert.Equal(a.PixelHash, withExif.PixelHash);
        Assert.NotEqual(png.PixelHash, other.PixelHash);
        Assert.NotEqual(a.PixelHash, png.PixelHash);
    }

    /// <summary>Inserts an APP1 EXIF block with one IFD0 entry (Orientation) right after SOI.</summary>
    internal static byte[] WithExifOrientation(byte[] jpeg, ushort orientation)
    {
        var tiff = new byte[] { (byte)'M', (byte)'M', 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, (byte)(orientation >> 8), (byte)orientation, 0, 0, 0, 0, 0, 0, 0, 0 };
        var payload = "Exif\0\0"u8.ToArray().Concat(tiff).ToArray();
        var segment = new byte[] { 0xFF, 0xE1, (byte)((payload.Length + 2) >> 8), (byte)(payload.Length + 2) }.Concat(payload);
        return jpeg[..2].Concat(segment).Concat(jpeg[2..]).ToArray();
    }
}
