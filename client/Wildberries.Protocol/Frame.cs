using System.Buffers;
using System.Buffers.Binary;

namespace Wildberries.Protocol;

/// <summary>
/// The frame layout: <c>[u32 length BE][u8 version][u8 type][u32 request id BE][MessagePack body]</c>, where the
/// length counts everything after itself. A parser that does no I/O: it answers "a frame", "need more data" or "bad".
/// </summary>
public static class Frame
{
    /// <summary>The protocol version this library speaks.</summary>
    public const byte Version = 1;

    /// <summary>Bytes of the length prefix.</summary>
    public const int LengthBytes = 4;

    /// <summary>Bytes the length counts before the body: version, type, request id.</summary>
    public const int HeaderAfterLengthBytes = 6;

    /// <summary>Bytes before the body.</summary>
    public const int HeaderBytes = LengthBytes + HeaderAfterLengthBytes;

    /// <summary>
    /// 1 MiB: the default largest length. The largest legitimate frames (a 1,000-line stock batch, a 1,000-item
    /// catalog page) are about 100 KB; this is ten times that, and bounds what one connection can make a peer buffer.
    /// </summary>
    public const int BytesMaxDefault = 1024 * 1024;

    /// <summary>
    /// Takes one whole frame off the front of <paramref name="buffer"/>. False with <see cref="FrameError.None"/>:
    /// more bytes are needed (nothing is consumed); false with another error: the stream is broken.
    /// </summary>
    public static bool TryRead(ref ReadOnlySequence<byte> buffer, int bytesMax, out FrameHeader header, out ReadOnlySequence<byte> body, out FrameError error)
    {
        header = default;
        body = default;
        error = FrameError.None;
        if (buffer.Length < HeaderBytes)
        {
            // The length alone can already be judged: a hopeless frame is refused before its body arrives.
            if (buffer.Length >= LengthBytes) error = CheckLength(ReadUInt32(buffer), bytesMax);
            return false;
        }
        Span<byte> head = stackalloc byte[HeaderBytes];
        buffer.Slice(0, HeaderBytes).CopyTo(head);
        var length = BinaryPrimitives.ReadUInt32BigEndian(head);
        error = CheckLength(length, bytesMax);
        if (error != FrameError.None) return false;
        if (head[4] != Version)
        {
            error = FrameError.UnsupportedVersion;
            return false;
        }
        if (buffer.Length < LengthBytes + length) return false;
        header = new FrameHeader((FrameType)head[5], BinaryPrimitives.ReadUInt32BigEndian(head[6..]), (int)length - HeaderAfterLengthBytes);
        body = buffer.Slice(HeaderBytes, header.BodyBytes);
        buffer = buffer.Slice(LengthBytes + length);
        return true;
    }

    private static FrameError CheckLength(uint length, int bytesMax) =>
        length < HeaderAfterLengthBytes ? FrameError.BadFrame : length > (uint)bytesMax ? FrameError.TooLarge : FrameError.None;

    private static uint ReadUInt32(ReadOnlySequence<byte> buffer)
    {
        Span<byte> prefix = stackalloc byte[LengthBytes];
        buffer.Slice(0, LengthBytes).CopyTo(prefix);
        return BinaryPrimitives.ReadUInt32BigEndian(prefix);
    }

    /// <summary>Writes a frame whose body is <paramref name="body"/> (already MessagePack) to <paramref name="output"/>.</summary>
    public static void Write(IBufferWriter<byte> output, FrameType type, uint requestId, ReadOnlySpan<byte> body)
    {
        ArgumentNullException.ThrowIfNull(output);
        var span = output.GetSpan(HeaderBytes + body.Length);
        BinaryPrimitives.WriteUInt32BigEndian(span, (uint)(HeaderAfterLengthBytes + body.Length));
        span[4] = Version;
        span[5] = (byte)type;
        BinaryPrimitives.WriteUInt32BigEndian(span[6..], requestId);
        body.CopyTo(span[HeaderBytes..]);
        output.Advance(HeaderBytes + body.Length);
    }
}

/// <summary>A frame's header: its type, request id and body size.</summary>
/// <param name="Type">The frame type.</param>
/// <param name="RequestId">The request id (0: the connection itself).</param>
/// <param name="BodyBytes">Bytes of the MessagePack body.</param>
public readonly record struct FrameHeader(FrameType Type, uint RequestId, int BodyBytes);

/// <summary>Why a byte stream is not a frame stream any more.</summary>
public enum FrameError
{
    /// <summary>No error (or, from <see cref="Frame.TryRead"/>, more data needed).</summary>
    None,

    /// <summary>A length below the 6 header bytes it must count.</summary>
    BadFrame,

    /// <summary>A length above the receiver's limit.</summary>
    TooLarge,

    /// <summary>A version other than <see cref="Frame.Version"/>.</summary>
    UnsupportedVersion,
}
