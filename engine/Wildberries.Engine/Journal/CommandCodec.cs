using System.Buffers;
using System.Buffers.Binary;
using MessagePack;
using Wildberries.Core;

namespace Wildberries.Engine.Journal;

/// <summary>
/// The journal entry format: a 24-byte header of our own, then the command as MessagePack.
/// <code>
/// [u32 crc32c of everything after it][i64 lsn][i64 timestampMs][i32 epoch][MessagePack body]
/// </code>
/// The checksum is ours because FASTER verifies its own only for pages read back from disk.
/// </summary>
public static class CommandCodec
{
    /// <summary>Bytes before the MessagePack body.</summary>
    public const int HeaderSize = 24;

    // Field count of the MessagePack array; bump with a new layout and keep reading the old ones.
    private const int FieldCount = 14;

    /// <summary>Writes the entry for <paramref name="command"/> into <paramref name="buffer"/> (cleared first).</summary>
    public static void Encode(in Command command, int epoch, ArrayBufferWriter<byte> buffer)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        buffer.ResetWrittenCount();
        buffer.GetSpan(HeaderSize);
        buffer.Advance(HeaderSize);
        var writer = new MessagePackWriter(buffer);
        writer.WriteArrayHeader(FieldCount);
        writer.Write((byte)command.Kind);
        writer.Write(command.Sku);
        writer.Write(command.OrderId.Value);
        writer.Write(command.Value);
        writer.Write(command.Expected);
        writer.Write(command.Text);
        writer.Write(command.Customer);
        writer.Write(command.Extra);
        if (command.Lines is null)
        {
            writer.WriteNil();
        }
        else
        {
            writer.WriteArrayHeader(command.Lines.Length * 2);
            foreach (var line in command.Lines)
            {
                writer.Write(line.Sku);
                writer.Write(line.Quantity);
            }
        }
        if (command.Warehouses is null)
        {
            writer.WriteNil();
        }
        else
        {
            writer.WriteArrayHeader(command.Warehouses.Length);
            foreach (var w in command.Warehouses) writer.Write(w);
        }
        writer.Write(command.WarehouseId);
        writer.Write(command.Flag);
        writer.Write(command.HasExpected);
        writer.Write(0); // reserved for the shard-to-shard reservation protocol
        writer.Flush();

        var entry = buffer.WrittenMemory.Span;
        var header = MemoryMarshalSpan(buffer);
        BinaryPrimitives.WriteInt64LittleEndian(header[4..], command.Lsn);
        BinaryPrimitives.WriteInt64LittleEndian(header[12..], command.TimestampMs);
        BinaryPrimitives.WriteInt32LittleEndian(header[20..], epoch);
        BinaryPrimitives.WriteUInt32LittleEndian(header, Crc32C(entry[4..]));
    }

    /// <summary>
    /// Reads an entry; false (with the reason) when its checksum or its body does not hold, which in the committed
    /// part of a journal means damage.
    /// </summary>
    public static bool TryDecode(ReadOnlyMemory<byte> memory, out Command command, out int epoch, out string? error) =>
        TryDecode(memory.Span, out command, out epoch, out error, null);

    /// <summary>
    /// Reads an entry from a span. With <paramref name="scratch"/>, the command's line and warehouse arrays are the
    /// scratch's, reused by the next entry decoded with it (recovery applies each command before reading the next).
    /// </summary>
    internal static bool TryDecode(ReadOnlySpan<byte> entry, out Command command, out int epoch, out string? error, DecodeScratch? scratch)
    {
        command = default;
        epoch = 0;
        if (!TryCheck(entry, out error)) return false;
        var reader = new PackReader(entry[HeaderSize..]);
        return TryDecodeBody(ref reader, entry, ref command, out epoch, out error, scratch);
    }

    /// <summary>
    /// Decodes an entry's body (after <see cref="TryCheck"/>) with any <see cref="IPackReader"/>: ours, or (the
    /// benchmark's baseline, in bench/) MessagePack's own reader.
    /// </summary>
    internal static bool TryDecodeBody<TReader>(ref TReader reader, ReadOnlySpan<byte> entry, ref Command command, out int epoch, out string? error, DecodeScratch? scratch)
        where TReader : IPackReader, allows ref struct
    {
        epoch = 0;
        try
        {
            if (reader.ReadArrayHeader() < FieldCount) throw new MessagePackSerializationException("too few fields");
            command.Kind = (CommandKind)reader.ReadByte();
            command.Sku = reader.ReadInt64();
            command.OrderId = new OrderId(reader.ReadUInt64());
            command.Value = reader.ReadInt64();
            command.Expected = reader.ReadInt64();
            command.Text = reader.ReadString();
            command.Customer = scratch is null ? reader.ReadString() : scratch.Intern(ref reader);
            command.Extra = scratch is null ? reader.ReadString() : scratch.Intern(ref reader);
            if (!reader.TryReadNil())
            {
                var n = reader.ReadArrayHeader() / 2;
                var lines = scratch?.Lines(n) ?? new CheckoutLine[n];
                for (var i = 0; i < n; i++) lines[i] = new CheckoutLine(reader.ReadInt64(), reader.ReadInt32());
                command.Lines = lines;
            }
            if (!reader.TryReadNil())
            {
                var n = reader.ReadArrayHeader();
                var warehouses = scratch?.Warehouses(n) ?? new int[n];
                for (var i = 0; i < n; i++) warehouses[i] = reader.ReadInt32();
                command.Warehouses = warehouses;
            }
            command.WarehouseId = reader.ReadInt32();
            command.Flag = reader.ReadBoolean();
            command.HasExpected = reader.ReadBoolean();
            reader.ReadInt32();
        }
        catch (Exception ex) when (ex is MessagePackSerializationException or EndOfStreamException or InvalidOperationException or OverflowException)
        {
            error = "body does not decode: " + ex.Message;
            return false;
        }
        command.Lsn = BinaryPrimitives.ReadInt64LittleEndian(entry[4..]);
        command.TimestampMs = BinaryPrimitives.ReadInt64LittleEndian(entry[12..]);
        epoch = BinaryPrimitives.ReadInt32LittleEndian(entry[20..]);
        error = null;
        return true;
    }

    /// <summary>Checks an entry's header and checksum; false (with the reason) when they do not hold.</summary>
    internal static bool TryCheck(ReadOnlySpan<byte> entry, out string? error)
    {
        if (entry.Length < HeaderSize + 1)
        {
            error = $"entry of {entry.Length} bytes is shorter than its header";
            return false;
        }
        var stored = BinaryPrimitives.ReadUInt32LittleEndian(entry);
        var actual = Crc32C(entry[4..]);
        if (stored != actual)
        {
            error = $"checksum mismatch (stored {stored:x8}, computed {actual:x8})";
            return false;
        }
        error = null;
        return true;
    }

    /// <summary>
    /// Line and warehouse arrays reused from one decoded entry to the next (small lengths only; when
    /// <c>reuseArrays</c>), and the strings that
    /// repeat across entries (customers, payment methods) kept once: a replayed journal allocates only what its
    /// state keeps.
    /// </summary>
    internal sealed class DecodeScratch(bool reuseArrays)
    {
        private const int Largest = 16;
        private const int InternedLengthMax = 64;
        private readonly CheckoutLine[]?[] _lines = new CheckoutLine[]?[Largest + 1];
        private readonly int[]?[] _warehouses = new int[]?[Largest + 1];
        private readonly string?[] _strings = new string?[1024];

        public CheckoutLine[] Lines(int n) => n > Largest || !reuseArrays ? new CheckoutLine[n] : _lines[n] ??= new CheckoutLine[n];

        public int[] Warehouses(int n) => n > Largest || !reuseArrays ? new int[n] : _warehouses[n] ??= new int[n];

        /// <summary>Reads a string; a short ASCII one seen before is the same instance again.</summary>
        public string? Intern<TReader>(ref TReader reader)
            where TReader : IPackReader, allows ref struct
        {
            if (!reader.TryReadStringBytes(out var bytes)) return null;
            if (bytes.Length > InternedLengthMax) return System.Text.Encoding.UTF8.GetString(bytes);
            // FNV-1a over the bytes picks one slot of a direct-mapped table; a different string there is replaced.
            var hash = 2166136261u;
            foreach (var b in bytes) hash = (hash ^ b) * 16777619u;
            ref var slot = ref _strings[hash & (uint)(_strings.Length - 1)];
            if (slot is not null && System.Text.Ascii.Equals(bytes, slot)) return slot;
            var text = System.Text.Encoding.UTF8.GetString(bytes);
            if (System.Text.Ascii.IsValid(bytes)) slot = text;
            return text;
        }
    }

    /// <summary>
    /// CRC-32C (Castagnoli), the checksum of iSCSI and ext4 metadata. System.IO.Hashing 10 ships only CRC-32 (IEEE),
    /// so this uses the BCL's <see cref="System.Numerics.BitOperations.Crc32C(uint, ulong)"/>, a hardware instruction on x86 and ARM.
    /// </summary>
    public static uint Crc32C(ReadOnlySpan<byte> data)
    {
        var crc = 0xFFFFFFFFu;
        var i = 0;
        for (; i + 8 <= data.Length; i += 8) crc = System.Numerics.BitOperations.Crc32C(crc, BinaryPrimitives.ReadUInt64LittleEndian(data[i..]));
        for (; i < data.Length; i++) crc = System.Numerics.BitOperations.Crc32C(crc, data[i]);
        return ~crc;
    }

    private static Span<byte> MemoryMarshalSpan(ArrayBufferWriter<byte> buffer) =>
        System.Runtime.InteropServices.MemoryMarshal.AsMemory(buffer.WrittenMemory).Span;
}
