using System.Diagnostics;
using Wildberries.Core;
using Wildberries.Engine.Pipeline;

namespace Wildberries.Engine;

/// <summary>
/// The engine's traces through <see cref="System.Diagnostics.Activity"/>, on an <see cref="ActivitySource"/> named
/// <see cref="SourceName"/>: a <c>checkout</c> activity per checkout command (a child of the caller's current activity,
/// such as its HTTP request), with three children, <c>ring</c> (waiting in the shard's ring for the journal stage),
/// <c>journal</c> (appended, group commit with its fsync, handed to the writer) and <c>apply</c> (the state machine and
/// the answer). While nobody listens the pipeline records nothing; while someone does, it keeps three timestamps on the
/// command's ring slot and the writer creates the activities after the fact, with those times.
/// </summary>
public static class EngineTracing
{
    /// <summary>The activity source's name: the package's.</summary>
    public const string SourceName = "Wildberries.Engine";

    /// <summary>The checkout activity's name.</summary>
    public const string CheckoutActivity = "checkout";

    internal static readonly ActivitySource Source = new(SourceName, typeof(EngineTracing).Assembly.GetName().Version?.ToString());

    /// <summary>Whether a command entering a ring should carry timestamps: a checkout, and someone listens.</summary>
    internal static bool Traced(in Command command) => command.Kind == CommandKind.Checkout && Source.HasListeners();

    /// <summary>
    /// Creates the checkout activity and its three stages from the slot's timestamps (on the writer thread, after the
    /// caller was answered): <paramref name="applied"/> is the result when the state machine ran, <paramref name="error"/>
    /// what failed the command (a dead journal, the command log not acknowledging).
    /// </summary>
    internal static void Checkout(in CommandSlot slot, long applyStarted, long applyEnded, int shard, ResultCode? applied, Exception? error)
    {
        var nowTicks = Stopwatch.GetTimestamp();
        var now = DateTimeOffset.UtcNow;
        DateTimeOffset At(long ticks) => now - Stopwatch.GetElapsedTime(ticks, nowTicks);

        using var checkout = Source.StartActivity(CheckoutActivity, ActivityKind.Internal, slot.TraceParent?.Context ?? default, startTime: At(slot.TraceEnqueued));
        if (checkout is null) return;
        checkout.SetTag("wb.shard", shard);
        if (applied is { } code) checkout.SetTag("wb.result", ResultCodes.ToWire(code));
        if (slot.Command.Lsn > 0) checkout.SetTag("wb.lsn", slot.Command.Lsn);
        if (error is not null) checkout.SetStatus(ActivityStatusCode.Error, error.Message);
        var journaled = slot.TraceJournaled == 0 ? applyStarted : slot.TraceJournaled;
        Stage(checkout, "ring", At(slot.TraceEnqueued), At(journaled));
        Stage(checkout, "journal", At(journaled), At(applyStarted));
        Stage(checkout, "apply", At(applyStarted), At(applyEnded));
        checkout.SetEndTime(At(applyEnded).UtcDateTime);
    }

    private static void Stage(Activity parent, string name, DateTimeOffset started, DateTimeOffset ended)
    {
        using var stage = Source.StartActivity(name, ActivityKind.Internal, parent.Context, startTime: started);
        stage?.SetEndTime(ended.UtcDateTime);
    }
}
