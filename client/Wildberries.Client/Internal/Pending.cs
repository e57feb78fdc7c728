using System.Buffers;
using MessagePack;
using Wildberries.Protocol;

namespace Wildberries.Client.Internal;

/// <summary>A request waiting for its answer; the read loop decodes the answer in place into the caller's type.</summary>
internal abstract class Pending(long deadlineMs, int timeoutMs)
{
    /// <summary>When the answer is late (<see cref="Environment.TickCount64"/>).</summary>
    public long DeadlineMs { get; } = deadlineMs;

    /// <summary>Fails the request with <see cref="TimeoutException"/>.</summary>
    public void TimeOut() => Fail(new TimeoutException($"No answer within {timeoutMs} ms."));

    /// <summary>Ends the wait because the caller cancelled.</summary>
    public abstract void Cancel(CancellationToken token);

    public abstract void Complete(FrameType type, ReadOnlySequence<byte> body);

    public abstract void Fail(Exception exception);
}

/// <summary>A request waiting for an answer of type <typeparamref name="T"/>.</summary>
internal sealed class Pending<T>(FrameType expected, BodyReader<T> read, long deadlineMs, int timeoutMs) : Pending(deadlineMs, timeoutMs)
{
    public TaskCompletionSource<T> Answer { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public override void Complete(FrameType type, ReadOnlySequence<byte> body)
    {
        try
        {
            if (type == FrameType.Error) Answer.TrySetException(new ReservationException(MessageCodec.Decode(body, MessageCodec.ReadProblem)));
            else if (type != (expected | FrameType.Answer)) Answer.TrySetException(new InvalidDataException($"Answer type 0x{(byte)type:x2} for a request of type 0x{(byte)expected:x2}."));
            else Answer.TrySetResult(MessageCodec.Decode(body, read));
        }
        catch (ProtocolFormatException ex)
        {
            Answer.TrySetException(new InvalidDataException("The server's answer is not the documented shape.", ex));
        }
    }

    public override void Fail(Exception exception) => Answer.TrySetException(exception);

    public override void Cancel(CancellationToken token) => Answer.TrySetCanceled(token);
}
