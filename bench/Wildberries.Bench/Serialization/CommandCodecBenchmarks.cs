using System.Buffers;
using BenchmarkDotNet.Attributes;
using MessagePack;
using Wildberries.Core;
using Wildberries.Engine.Journal;

namespace Wildberries.Bench.Serialization;

/// <summary>
/// The journal entry codec (hand-written MessagePack with our header and CRC-32C) against MessagePack's attributed
/// serializer and System.Text.Json on the same 3-line checkout: the losing variants justify writing it by hand.
/// </summary>
public class CommandCodecBenchmarks
{
    private readonly ArrayBufferWriter<byte> _buffer = new(512);
    private Command _command;
    private CheckoutDto _dto = null!;
    private byte[] _encoded = [];
    private byte[] _attributed = [];
    private byte[] _json = [];

    [MessagePackObject]
    public sealed class CheckoutDto
    {
        [Key(0)] public long Lsn { get; set; }
        [Key(1)] public long TimestampMs { get; set; }
        [Key(2)] public string Key { get; set; } = "";
        [Key(3)] public string Customer { get; set; } = "";
        [Key(4)] public long[] Skus { get; set; } = [];
        [Key(5)] public int[] Quantities { get; set; } = [];
    }

    [GlobalSetup]
    public void Setup()
    {
        _command = Command.Checkout("idem-7f3a9c1e-42", "customer-1234567", [new CheckoutLine(42, 1), new CheckoutLine(4242, 2), new CheckoutLine(424242, 1)]);
        _command.Lsn = 123_456_789;
        _command.TimestampMs = 1_700_000_000_000;
        _dto = new CheckoutDto { Lsn = _command.Lsn, TimestampMs = _command.TimestampMs, Key = _command.Text!, Customer = _command.Customer!, Skus = [42, 4242, 424242], Quantities = [1, 2, 1] };
        CommandCodec.Encode(_command, 0, _buffer);
        _encoded = _buffer.WrittenSpan.ToArray();
        _attributed = MessagePackSerializer.Serialize(_dto);
        _json = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(_dto);
    }

    [Benchmark(Baseline = true, Description = "encode: hand-written MessagePack + header + CRC-32C")]
    public int EncodeHandWritten()
    {
        CommandCodec.Encode(_command, 0, _buffer);
        return _buffer.WrittenCount;
    }

    [Benchmark(Description = "encode: MessagePack attributed DTO")]
    public int EncodeAttributed()
    {
        _buffer.ResetWrittenCount();
        MessagePackSerializer.Serialize(_buffer, new CheckoutDto { Lsn = _command.Lsn, TimestampMs = _command.TimestampMs, Key = _command.Text!, Customer = _command.Customer!, Skus = [.. _command.Lines!.Select(l => l.Sku)], Quantities = [.. _command.Lines!.Select(l => l.Quantity)] });
        return _buffer.WrittenCount;
    }

    [Benchmark(Description = "encode: System.Text.Json DTO")]
    public int EncodeJson() => System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(_dto).Length;

    [Benchmark(Description = "decode: hand-written, CRC verified")]
    public long DecodeHandWritten() => CommandCodec.TryDecode(_encoded, out var c, out _, out _) ? c.Lsn : -1;

    [Benchmark(Description = "decode: MessagePack attributed DTO (no checksum)")]
    public long DecodeAttributed() => MessagePackSerializer.Deserialize<CheckoutDto>(_attributed).Lsn;

    [Benchmark(Description = "decode: System.Text.Json DTO (no checksum)")]
    public long DecodeJson() => System.Text.Json.JsonSerializer.Deserialize<CheckoutDto>(_json)!.Lsn;
}
