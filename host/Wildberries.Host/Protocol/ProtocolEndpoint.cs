using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Wildberries.Host.Protocol;

/// <summary>The binary protocol's Kestrel endpoint, kept so the bound port can be read after start (port 0 in tests).</summary>
public sealed class ProtocolEndpoint
{
    /// <summary>The listen options Kestrel binds (and updates with the bound address), or null without <c>--tcp</c>.</summary>
    public ListenOptions? Listen { get; set; }
}
