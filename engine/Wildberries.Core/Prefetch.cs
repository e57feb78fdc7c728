using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace Wildberries.Core;

/// <summary>
/// Cache prefetch hints: a checkout touches a few places chosen at random in large tables (the key index, the order
/// index, the SKU table), each a likely cache miss; asking for them all at the start lets the misses overlap with
/// each other and with the checks that come first, instead of waiting for them one after the other.
/// </summary>
internal static class Prefetch
{
    /// <summary>Starts loading the cache line of <paramref name="location"/> (x86; elsewhere nothing). Never faults.</summary>
    /// <remarks>The address is only a hint: should the GC move the array meanwhile, the wrong line is loaded, nothing more.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void Line<T>(ref T location)
    {
        if (Sse.IsSupported) Sse.Prefetch0(Unsafe.AsPointer(ref location));
    }

    /// <summary>Starts loading the first cache line of <paramref name="o"/> (its header and first fields).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void Object(object o)
    {
        if (Sse.IsSupported) Sse.Prefetch0(*(void**)Unsafe.AsPointer(ref o));
    }
}
