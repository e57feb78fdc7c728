using System.Buffers;
using Wildberries.Testing;

namespace Wildberries.Protocol.Tests;

/// <summary>scripts/test.sh runs these tests a second time with WB_TEST_SHARDS=2: the servers they start run on that many shards.</summary>
public class ShardCountTests
{
    [Fact]
    public async Task The_server_runs_on_WB_TEST_SHARDS_shards_and_its_Welcome_maps_them()
    {
        await using var server = await ProtocolServer.StartAsync();
        Assert.Equal(InProcessServer.ShardCount, server.Engine.ShardCount);

        using var raw = await RawConnection.ConnectAsync(server.Tcp);
        await raw.SendAsync(RawConnection.Hello(ProtocolServer.StorefrontKey));
        var (type, _, body) = await raw.ReceiveAsync();
        Assert.Equal(FrameType.Welcome, type);
        var welcome = MessageCodec.Decode(new ReadOnlySequence<byte>(body), MessageCodec.ReadWelcome);
        Assert.Equal(InProcessServer.ShardCount, welcome.Shards.Count);
    }
}
