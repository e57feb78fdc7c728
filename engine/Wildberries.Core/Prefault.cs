namespace Wildberries.Core;

/// <summary>
/// Commits a new array's memory up front: the operating system maps a fresh page only when it is first written, and
/// a large array allocated from fresh memory is not written by the allocator, so the writer thread would take that
/// page fault (a microsecond, in the kernel) at the first write of each 4 KiB page, under load: a slot table written
/// at random takes one on nearly every insert until all its pages are mapped.
/// </summary>
internal static class Prefault
{
    private const int PageBytes = 4096;

    /// <summary>Writes the default value (what the array already holds) once in every page of <paramref name="array"/>.</summary>
    public static T[] Touch<T>(T[] array)
    {
        var stride = Math.Max(1, PageBytes / System.Runtime.CompilerServices.Unsafe.SizeOf<T>());
        for (var i = 0; i < array.Length; i += stride) array[i] = default!;
        if (array.Length > 0) array[^1] = default!;
        return array;
    }
}
